'use strict';

// Lint for the package's JavaScript: Salesforce's LWC rules on the components and their tests,
// the Aura and Locker rules on the Omni-Channel bridge, plain recommended rules on the mocks and
// the check scripts.
const { defineConfig } = require('eslint/config');
const eslintJs = require('@eslint/js');
const jestPlugin = require('eslint-plugin-jest');
const salesforceLwcConfig = require('@salesforce/eslint-config-lwc/recommended');
const eslintPluginAura = require('@salesforce/eslint-plugin-aura');
const globals = require('globals');

module.exports = defineConfig([
    {
        files: ['**/lwc/**/*.js'],
        extends: [salesforceLwcConfig]
    },
    {
        files: ['**/lwc/**/*.test.js'],
        extends: [salesforceLwcConfig],
        rules: {
            '@lwc/lwc/no-unexpected-wire-adapter-usages': 'off'
        },
        languageOptions: {
            globals: { ...globals.node }
        }
    },
    {
        files: ['**/aura/**/*.js'],
        ignores: ['**/aura/**/__tests__/**'],
        extends: [eslintPluginAura.configs.recommended, eslintPluginAura.configs.locker],
        rules: {
            // Aura controllers and helpers are object literals in parentheses: `({ … })`.
            'no-unused-expressions': 'off'
        }
    },
    {
        files: ['force-app/test/jest-mocks/**/*.js', '**/aura/**/__tests__/**/*.js'],
        languageOptions: {
            sourceType: 'module',
            ecmaVersion: 'latest',
            globals: { ...globals.node, ...globals.es2021, ...jestPlugin.environments.globals.globals }
        },
        plugins: { eslintJs },
        extends: ['eslintJs/recommended']
    },
    {
        files: ['scripts/**/*.mjs'],
        languageOptions: {
            sourceType: 'module',
            ecmaVersion: 'latest',
            globals: { ...globals.node }
        },
        plugins: { eslintJs },
        extends: ['eslintJs/recommended']
    }
]);
