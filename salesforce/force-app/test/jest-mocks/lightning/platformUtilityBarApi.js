// sfdx-lwc-jest ships no stub for lightning/platformUtilityBarApi: this one stands in for it.
import { createTestWireAdapter } from '@salesforce/sfdx-lwc-jest';

export const EnclosingUtilityId = createTestWireAdapter(jest.fn());
export const updateUtility = jest.fn(() => Promise.resolve());
export const open = jest.fn(() => Promise.resolve());
export const minimize = jest.fn(() => Promise.resolve());
