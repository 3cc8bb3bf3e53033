import { createElement } from 'lwc';
import PresenceUtility, { CONSOLE_ORIGIN } from 'c/presenceUtility';
import { subscribe, unsubscribe } from 'lightning/empApi';
import { EnclosingUtilityId, updateUtility } from 'lightning/platformUtilityBarApi';
import userId from '@salesforce/user/Id';
import getStates from '@salesforce/apex/PresenceController.getStates';
import getMyPresence from '@salesforce/apex/PresenceController.getMyPresence';
import getBlockedCallsToday from '@salesforce/apex/PresenceController.getBlockedCallsToday';
import setMyState from '@salesforce/apex/PresenceController.setMyState';

jest.mock(
    '@salesforce/apex/PresenceController.getStates',
    () => {
        const { createApexTestWireAdapter } = require('@salesforce/sfdx-lwc-jest');
        return { default: createApexTestWireAdapter(jest.fn()) };
    },
    { virtual: true }
);
jest.mock('@salesforce/apex/PresenceController.getMyPresence', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/PresenceController.getBlockedCallsToday', () => ({ default: jest.fn() }), { virtual: true });
jest.mock('@salesforce/apex/PresenceController.setMyState', () => ({ default: jest.fn() }), { virtual: true });

// A few of the shipped Call Center's states (PresenceBridgeDefaultCallCenter.json).
const STATES = [
    { Id: 'a01A', Name: 'Available', Class__c: 'Available', Selectable__c: true },
    { Id: 'a01B', Name: 'Lunch', Class__c: 'Away', Selectable__c: true },
    { Id: 'a01C', Name: 'Do Not Disturb', Class__c: 'DoNotDisturb', Selectable__c: true },
    { Id: 'a01D', Name: 'In a Meeting', Class__c: 'Busy', Selectable__c: false },
    { Id: 'a01E', Name: 'Logout', Class__c: 'LoggedOut', Selectable__c: true }
];
const NOW = '2026-12-01T10:00:00.000Z';
const presence = (fields) => ({
    state: 'Available',
    source: 'Desktop',
    sequence: 4,
    originClient: 'desktop-1',
    serverNow: NOW,
    heartbeatAt: '2026-12-01T09:59:40.000Z',
    heartbeatStaleSeconds: 120,
    desktopRunning: true,
    blockedCallsToday: 0,
    ...fields
});

// Lets promises and the re-render after them run.
const settle = async () => {
    for (let i = 0; i < 5; i += 1) {
        // eslint-disable-next-line no-await-in-loop
        await Promise.resolve();
    }
};
const byId = (element, id) => element.shadowRoot.querySelector(`[data-id="${id}"]`);
const allById = (element, id) => Array.from(element.shadowRoot.querySelectorAll(`[data-id="${id}"]`));

async function mount({ mine = presence(), blocked = [] } = {}) {
    getMyPresence.mockResolvedValue(mine);
    getBlockedCallsToday.mockResolvedValue(blocked);
    const element = createElement('c-presence-utility', { is: PresenceUtility });
    document.body.appendChild(element);
    getStates.emit(STATES);
    EnclosingUtilityId.emit('utility-1');
    await settle();
    return element;
}
const streamed = (callIndex) => subscribe.mock.calls[callIndex][2];

describe('c-presence-utility', () => {
    beforeEach(() => {
        jest.useFakeTimers({ now: Date.parse(NOW), doNotFake: ['queueMicrotask', 'nextTick'] });
        subscribe.mockImplementation((channel) => Promise.resolve({ channel }));
    });
    afterEach(() => {
        while (document.body.firstChild) {
            document.body.removeChild(document.body.firstChild);
        }
        jest.clearAllMocks();
        jest.useRealTimers();
    });

    it('shows the state with its icon, label and source, and offers only the selectable states', async () => {
        const element = await mount({ mine: presence({ state: 'lunch', source: 'Teams' }) });

        expect(byId(element, 'state-label').textContent).toBe('Lunch');
        expect(byId(element, 'state-source').textContent).toBe('from Teams');
        expect(element.shadowRoot.querySelector('lightning-icon').iconName).toBe('utility:clock');
        const picker = element.shadowRoot.querySelector('lightning-combobox');
        expect(picker.value).toBe('Lunch');
        expect(picker.options.map((o) => o.value)).toEqual(['Available', 'Lunch', 'Do Not Disturb', 'Logout']);
        expect(byId(element, 'desktop').textContent).toBe('Desktop app running');
        expect(updateUtility).toHaveBeenLastCalledWith(
            'utility-1',
            expect.objectContaining({ label: 'Presence: Lunch', icon: 'utility:clock', iconVariant: 'warning', highlighted: false })
        );
    });

    it('a display-only state is shown but not offered as the pick', async () => {
        const element = await mount({ mine: presence({ state: 'In a Meeting', source: 'Teams' }) });

        expect(byId(element, 'state-label').textContent).toBe('In a Meeting');
        const picker = element.shadowRoot.querySelector('lightning-combobox');
        expect(picker.value).toBeNull();
        expect(picker.placeholder).toBe('In a Meeting (set by Teams or a call)');
    });

    it('a pick calls Apex with the label and shows what the server saved', async () => {
        const element = await mount();
        setMyState.mockResolvedValue(presence({ state: 'Do Not Disturb', source: 'Salesforce', sequence: 5, originClient: CONSOLE_ORIGIN }));

        element.shadowRoot.querySelector('lightning-combobox').dispatchEvent(new CustomEvent('change', { detail: { value: 'Do Not Disturb' } }));
        await settle();

        expect(setMyState).toHaveBeenCalledWith({ label: 'Do Not Disturb', originClient: 'salesforce-console' });
        expect(byId(element, 'state-label').textContent).toBe('Do Not Disturb');
        expect(byId(element, 'state-source').textContent).toBe('set in Salesforce');
        expect(element.shadowRoot.querySelector('lightning-icon').iconName).toBe('utility:ban');
    });

    it('a refused pick says why and keeps the saved state', async () => {
        const element = await mount();
        setMyState.mockRejectedValue({ body: { message: '"Lunch" is set by Teams or by a call, and cannot be picked.' } });

        element.shadowRoot.querySelector('lightning-combobox').dispatchEvent(new CustomEvent('change', { detail: { value: 'Lunch' } }));
        await settle();

        expect(byId(element, 'error').textContent).toBe('"Lunch" was not saved: "Lunch" is set by Teams or by a call, and cannot be picked.');
        expect(byId(element, 'state-label').textContent).toBe('Available');
    });

    it("follows the agent's own channels, and a change made in Teams shows at once", async () => {
        const element = await mount();

        expect(subscribe).toHaveBeenCalledWith(`/topic/AgentPresence?User__c=${userId}`, -1, expect.any(Function));
        expect(subscribe).toHaveBeenCalledWith(`/topic/AgentCalls?User__c=${userId}`, -1, expect.any(Function));
        streamed(0)({ data: { event: { replayId: 7 }, sobject: { Id: 'a02X', State__c: 'Do Not Disturb', Source__c: 'Teams', Sequence__c: 5 } } });
        await settle();

        expect(byId(element, 'state-label').textContent).toBe('Do Not Disturb');
        expect(byId(element, 'state-source').textContent).toBe('from Teams');
        expect(updateUtility).toHaveBeenLastCalledWith('utility-1', expect.objectContaining({ label: 'Presence: Do Not Disturb', icon: 'utility:ban' }));
    });

    it('a late event with an older sequence does not undo a newer state', async () => {
        const element = await mount({ mine: presence({ state: 'Lunch', sequence: 9 }) });

        streamed(0)({ data: { event: { replayId: 3 }, sobject: { State__c: 'Available', Sequence__c: 8 } } });
        await settle();

        expect(byId(element, 'state-label').textContent).toBe('Lunch');
    });

    it('a stale heartbeat says the desktop app is not running and highlights the utility', async () => {
        const element = await mount({ mine: presence({ heartbeatAt: '2026-12-01T09:55:00.000Z' }) });

        expect(byId(element, 'desktop').textContent).toBe('Desktop app not running: calls go to Teams');
        expect(updateUtility).toHaveBeenLastCalledWith('utility-1', expect.objectContaining({ iconVariant: 'warning', highlighted: true }));
    });

    it('a re-read that answers after a newer streamed change keeps the change, and takes the heartbeat', async () => {
        const element = await mount({ mine: presence({ state: 'Available', sequence: 4 }) });
        streamed(0)({ data: { event: { replayId: 8 }, sobject: { State__c: 'Lunch', Source__c: 'Teams', Sequence__c: 5 } } });
        await settle();

        getMyPresence.mockResolvedValue(presence({ state: 'Available', sequence: 4, serverNow: '2026-12-01T10:03:00.000Z' }));
        jest.advanceTimersByTime(30000);
        await settle();

        expect(byId(element, 'state-label').textContent).toBe('Lunch');
        expect(byId(element, 'desktop').textContent).toBe('Desktop app not running: calls go to Teams');
    });

    it('the heartbeat is read again on a timer, so an app that stops is noticed', async () => {
        const element = await mount();
        expect(byId(element, 'desktop').textContent).toBe('Desktop app running');

        getMyPresence.mockResolvedValue(presence({ serverNow: '2026-12-01T10:03:00.000Z' }));
        jest.advanceTimersByTime(30000);
        await settle();

        expect(getMyPresence).toHaveBeenCalledTimes(2);
        expect(byId(element, 'desktop').textContent).toBe('Desktop app not running: calls go to Teams');
    });

    it('lists the calls blocked today and refreshes them when a call is not signalled', async () => {
        const element = await mount({
            blocked: [{ Id: 'a03A', Call_Id__c: 'c1', From_Number__c: '+15550100', Reason__c: 'Do Not Disturb', Offered_At__c: '2026-12-01T09:00:00.000Z' }]
        });
        expect(byId(element, 'blocked-summary').textContent).toBe('1 call blocked today');
        expect(allById(element, 'blocked-call')[0].textContent).toContain('+15550100');
        expect(allById(element, 'blocked-call')[0].textContent).toContain('Do Not Disturb');

        getBlockedCallsToday.mockResolvedValue([
            { Id: 'a03B', Call_Id__c: 'c2', From_Number__c: '', Reason__c: 'Presenting', Offered_At__c: '2026-12-01T09:58:00.000Z' },
            { Id: 'a03A', Call_Id__c: 'c1', From_Number__c: '+15550100', Reason__c: 'Do Not Disturb', Offered_At__c: '2026-12-01T09:00:00.000Z' }
        ]);
        streamed(1)({ data: { event: { replayId: 11 }, sobject: { Call_Id__c: 'c2', Status__c: 'NotSignalled' } } });
        await settle();

        expect(byId(element, 'blocked-summary').textContent).toBe('2 calls blocked today');
        expect(allById(element, 'blocked-call')[0].textContent).toContain('unknown number');
    });

    it('says when live updates are unavailable, and unsubscribes when removed', async () => {
        subscribe.mockRejectedValueOnce(new Error('Streaming API is disabled'));
        const element = await mount();
        expect(byId(element, 'stream').textContent).toBe('Live updates unavailable: Streaming API is disabled');

        document.body.removeChild(element);
        expect(unsubscribe).toHaveBeenCalledTimes(0); // nothing was subscribed
    });

    it('unsubscribes both channels when removed', async () => {
        const element = await mount();
        document.body.removeChild(element);
        expect(unsubscribe).toHaveBeenCalledTimes(2);
    });
});
