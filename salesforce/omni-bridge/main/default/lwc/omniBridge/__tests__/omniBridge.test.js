import { createElement } from 'lwc';
import OmniBridge from 'c/omniBridge';
import { subscribe } from 'lightning/empApi';
import userId from '@salesforce/user/Id';
import getMapping from '@salesforce/apex/OmniBridgeController.getMapping';
import getMyPresence from '@salesforce/apex/PresenceController.getMyPresence';
import setMyState from '@salesforce/apex/PresenceController.setMyState';

jest.mock(
    '@salesforce/apex/OmniBridgeController.getMapping',
    () => {
        const { createApexTestWireAdapter } = require('@salesforce/sfdx-lwc-jest');
        return { default: createApexTestWireAdapter(jest.fn()) };
    },
    { virtual: true }
);
jest.mock('@salesforce/apex/PresenceController.getMyPresence', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/PresenceController.setMyState', () => ({ default: jest.fn() }), { virtual: true });

// Lunch and Away share Omni's "Away"; In a Meeting is display-only; Logout names no status.
const MAPPING = {
    enabled: true,
    unknownStatuses: [],
    states: [
        { label: 'Available', presenceClass: 'Available', selectable: true, omniStatus: 'Available_Phone', omniStatusId: '0N5000000000001AAA' },
        { label: 'Away', presenceClass: 'Away', selectable: true, omniStatus: 'Away', omniStatusId: '0N5000000000002AAA' },
        { label: 'Lunch', presenceClass: 'Away', selectable: true, omniStatus: 'Away', omniStatusId: '0N5000000000002AAA' },
        { label: 'In a Meeting', presenceClass: 'Busy', selectable: false, omniStatus: 'Busy_Phone', omniStatusId: '0N5000000000003AAA' },
        { label: 'Busy', presenceClass: 'Busy', selectable: true, omniStatus: 'Busy_Phone', omniStatusId: '0N5000000000003AAA' },
        { label: 'Logout', presenceClass: 'LoggedOut', selectable: true }
    ]
};
const settle = async () => {
    for (let i = 0; i < 5; i += 1) {
        // eslint-disable-next-line no-await-in-loop
        await Promise.resolve();
    }
};

async function mount(mapping = MAPPING, state = 'Available') {
    getMyPresence.mockResolvedValue({ state });
    setMyState.mockResolvedValue({});
    const element = createElement('c-omni-bridge', { is: OmniBridge });
    const asked = { status: [], logout: 0, problems: [] };
    element.addEventListener('setomnistatus', (event) => asked.status.push(event.detail));
    element.addEventListener('omnilogout', () => {
        asked.logout += 1;
    });
    element.addEventListener('bridgeproblem', (event) => asked.problems.push(event.detail.message));
    document.body.appendChild(element);
    getMapping.emit(mapping);
    await settle();
    const ours = (sobject) => subscribe.mock.calls[0][2]({ data: { event: { replayId: 1 }, sobject } });
    return { element, asked, ours };
}

describe('c-omni-bridge', () => {
    beforeEach(() => {
        subscribe.mockImplementation((channel) => Promise.resolve({ channel }));
    });
    afterEach(() => {
        while (document.body.firstChild) {
            document.body.removeChild(document.body.firstChild);
        }
        jest.clearAllMocks();
    });

    it("follows the agent's own presence channel", async () => {
        await mount();
        expect(subscribe).toHaveBeenCalledWith(`/topic/AgentPresence?User__c=${userId}`, -1, expect.any(Function));
    });

    it('ours → Omni: a state changed in Teams or the tray sets its Omni status', async () => {
        const { asked, ours } = await mount();
        ours({ State__c: 'Lunch', Source__c: 'Teams', Origin_Client__c: 'desktop-1' });
        expect(asked.status).toEqual([{ statusId: '0N5000000000002AAA', statusApiName: 'Away' }]);

        ours({ State__c: 'Logout', Source__c: 'Desktop', Origin_Client__c: 'desktop-1' });
        expect(asked.logout).toBe(1);
    });

    it("ours → Omni: the toolkit's echo of that change is not written back", async () => {
        const { element, ours } = await mount();
        ours({ State__c: 'Busy', Source__c: 'Desktop', Origin_Client__c: 'desktop-1' });

        await element.omniStatusChanged({ statusId: '0N5000000000003AAA', statusApiName: 'Busy_Phone', reason: 'OmniToolkitStatusChange' });
        expect(setMyState).not.toHaveBeenCalled();
    });

    it('ours → Omni: the echo is recognised also on releases that send no reason', async () => {
        const { element, ours } = await mount();
        ours({ State__c: 'Busy', Source__c: 'Desktop', Origin_Client__c: 'desktop-1' });

        await element.omniStatusChanged({ statusId: '0N5000000000003AAA', statusApiName: 'Busy_Phone' });
        expect(setMyState).not.toHaveBeenCalled();

        // A later change to the same status with no reason is the agent's again: it is news.
        ours({ State__c: 'Available', Source__c: 'Teams', Origin_Client__c: 'desktop-1' });
        await element.omniStatusChanged({ statusApiName: 'Available_Phone' });
        await element.omniStatusChanged({ statusApiName: 'Busy_Phone' });
        expect(setMyState).toHaveBeenCalledWith({ label: 'Busy', originClient: 'omni:OmniStatusChange' });
    });

    it("Omni → ours: the agent's or a supervisor's change is written with Omni's marker", async () => {
        const { element } = await mount();

        await element.omniStatusChanged({ statusApiName: 'Busy_Phone', reason: 'OmniManualStatusChange' });
        expect(setMyState).toHaveBeenLastCalledWith({ label: 'Busy', originClient: 'omni:OmniManualStatusChange' });

        await element.omniStatusChanged({ statusApiName: 'Away', reason: 'OmniSupervisorStatusChange' });
        expect(setMyState).toHaveBeenLastCalledWith({ label: 'Away', originClient: 'omni:OmniSupervisorStatusChange' });
        expect(setMyState).toHaveBeenCalledTimes(2);
    });

    it("Omni → ours: our stream's echo of an Omni-made change is not sent back to Omni", async () => {
        const { element, asked, ours } = await mount();
        await element.omniStatusChanged({ statusApiName: 'Busy_Phone', reason: 'OmniManualStatusChange' });

        ours({ State__c: 'Busy', Source__c: 'Salesforce', Origin_Client__c: 'omni:OmniManualStatusChange' });
        expect(asked.status).toEqual([]);
        expect(asked.logout).toBe(0);
    });

    it('Omni → ours: a status our state already maps to keeps our state (Lunch stays Lunch on "Away")', async () => {
        const { element } = await mount(MAPPING, 'Lunch');
        await element.omniStatusChanged({ statusApiName: 'Away', reason: 'OmniManualStatusChange' });
        expect(setMyState).not.toHaveBeenCalled();
    });

    it('Omni → ours: a logout by the agent or a supervisor logs out; a duplicate login does not', async () => {
        const { element } = await mount();
        await element.omniLoggedOut({ reason: 'DuplicateLogin' });
        expect(setMyState).not.toHaveBeenCalled();

        await element.omniLoggedOut({ reason: 'OmniSupervisorLogout' });
        expect(setMyState).toHaveBeenCalledWith({ label: 'Logout', originClient: 'omni:OmniSupervisorLogout' });
    });

    it('a state with no Omni status, or Omni already there, asks nothing of Omni', async () => {
        const { element, asked, ours } = await mount();
        await element.omniStatusChanged({ statusApiName: 'Away', reason: 'OmniManualStatusChange' });
        ours({ State__c: 'Lunch', Source__c: 'Salesforce', Origin_Client__c: 'salesforce-console' });
        ours({ State__c: 'Gardening', Source__c: 'Teams' });
        ours({ Heartbeat_At__c: '2026-12-01T10:00:00Z' });
        expect(asked.status).toEqual([]);
    });

    it('does nothing while the Call Center has the bridge off', async () => {
        const { element, asked, ours } = await mount({ enabled: false, states: [], unknownStatuses: [] });
        ours({ State__c: 'Busy', Source__c: 'Teams' });
        await element.omniStatusChanged({ statusApiName: 'Busy_Phone', reason: 'OmniManualStatusChange' });
        expect(asked.status).toEqual([]);
        expect(setMyState).not.toHaveBeenCalled();
    });

    it('says which mapped statuses this org lacks, and a refused toolkit change', async () => {
        const { element, asked } = await mount({ ...MAPPING, unknownStatuses: ['Available_Phone'] });
        element.omniFailed('status not allowed for this user');
        expect(asked.problems).toEqual([
            'Omni-Channel statuses not found in this org: Available_Phone',
            'Omni-Channel did not take the status: status not allowed for this user'
        ]);
    });
});
