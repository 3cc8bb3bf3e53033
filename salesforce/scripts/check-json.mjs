// Validates sfdx-project.json and the scratch-org definition against Salesforce's published
// JSON Schemas (npm @salesforce/schemas), which `sf` itself does not apply before it runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import Ajv from 'ajv';

const require = createRequire(import.meta.url);
const root = path.resolve(process.argv[2] ?? '.');
const schemas = path.dirname(require.resolve('@salesforce/schemas/package.json'));
const checks = [
    ['sfdx-project.json', 'sfdx-project.schema.json'],
    ['config/project-scratch-def.json', 'project-scratch-def.schema.json']
];
const ajv = new Ajv({ allErrors: true, strict: false });
let faults = 0;
for (const [file, schema] of checks) {
    const validate = ajv.compile(JSON.parse(readFileSync(path.join(schemas, schema), 'utf8')));
    let document;
    try {
        document = JSON.parse(readFileSync(path.join(root, file), 'utf8'));
    } catch (error) {
        console.error(`check-json: ${file}: ${error.message}`);
        faults += 1;
        continue;
    }
    if (!validate(document)) {
        for (const error of validate.errors) console.error(`check-json: ${file}: ${error.instancePath || '/'} ${error.message}`);
        faults += validate.errors.length;
    }
}
if (faults > 0) {
    console.error(`check-json: ${faults} fault(s)`);
    process.exit(1);
}
console.log(`check-json: ${checks.length} files match Salesforce's schemas`);
