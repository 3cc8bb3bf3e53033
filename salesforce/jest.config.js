const { jestConfig } = require('@salesforce/sfdx-lwc-jest/config');

module.exports = {
    ...jestConfig,
    moduleNameMapper: {
        '^lightning/platformUtilityBarApi$': '<rootDir>/force-app/test/jest-mocks/lightning/platformUtilityBarApi'
    },
    testPathIgnorePatterns: ['<rootDir>/node_modules/']
};
