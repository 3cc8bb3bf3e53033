// Parses every Apex class of the project and every anonymous script with apex-parser (the
// grammar of Salesforce's own tools). Its per-package status can stay 0 with an error present,
// so the check fails on the errors it lists. Semantics (unknown fields, types) need an org.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { checkProject, ApexParserFactory, ApexErrorListener } from '@apexdevtools/apex-parser';

const root = path.resolve(process.argv[2] ?? '.');
const errors = [];
for (const result of await checkProject(root)) {
    for (const error of result.errors)
        errors.push(`${path.relative(root, path.resolve(result.path, error.path))}:${error.line}:${error.column}: ${error.message}`);
}

class Collect extends ApexErrorListener {
    constructor(file) {
        super();
        this.file = file;
    }
    apexSyntaxError(line, column, message) {
        errors.push(`${this.file}:${line}:${column}: ${message}`);
    }
}
const scripts = path.join(root, 'scripts', 'apex');
let anonymous = 0;
for (const file of readdirSync(scripts).filter((f) => f.endsWith('.apex'))) {
    const relative = path.relative(root, path.join(scripts, file));
    const { parser } = ApexParserFactory.createLexerAndParser(readFileSync(path.join(scripts, file), 'utf8'), new Collect(relative));
    parser.anonymousUnit();
    anonymous += 1;
}

// Apex reserves words its grammar (and so apex-parser) still accepts as names; the compiler in
// the org refuses a method or variable so named. The list is Apex's reserved keywords that are
// plausible names (the full list also holds SOQL words and types).
const RESERVED = [
    'array',
    'bulk',
    'byte',
    'case',
    'char',
    'collect',
    'commit',
    'const',
    'default',
    'end',
    'exit',
    'export',
    'float',
    'goto',
    'group',
    'hint',
    'import',
    'inner',
    'into',
    'join',
    'loop',
    'number',
    'object',
    'of',
    'outer',
    'parallel',
    'pragma',
    'retrieve',
    'returning',
    'search',
    'short',
    'sort',
    'stat',
    'synchronized',
    'then',
    'transaction',
    'type',
    'when'
];
const declaration = new RegExp(`\\b[A-Z]\\w*(?:<[\\w<>, .]*>)?\\s+(${RESERVED.join('|')})\\s*[(=;,)]`, 'g');
for (const file of readdirSync(root, { recursive: true }).map(String)) {
    if (file.includes('node_modules') || !/\.(cls|trigger|apex)$/.test(file)) continue;
    const lines = readFileSync(path.join(root, file), 'utf8').split('\n');
    lines.forEach((line, index) => {
        const code = line.replace(/\/\/.*$/, '').replace(/'(?:[^'\\]|\\.)*'/g, "''");
        for (const match of code.matchAll(declaration)) {
            errors.push(`${file}:${index + 1}:${match.index + 1}: '${match[1]}' is a reserved word in Apex and cannot name a method or variable`);
        }
    });
}

const classes = readdirSync(root, { recursive: true }).filter((f) => String(f).endsWith('.cls') && !String(f).includes('node_modules'));
if (errors.length > 0) {
    for (const line of errors) console.error(`check-apex: ${line}`);
    console.error(`check-apex: ${errors.length} error(s)`);
    process.exit(1);
}
console.log(`check-apex: ${classes.length} classes and ${anonymous} anonymous script(s) parse`);
