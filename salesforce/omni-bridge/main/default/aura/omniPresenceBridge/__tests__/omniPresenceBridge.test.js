// The Aura host's controller and helper, loaded as Aura loads them (an object literal in
// parentheses) and run against a stand-in component: which toolkit calls each event makes and
// what reaches the bridge. The framework itself cannot run outside an org.
import { readFileSync } from 'node:fs';
import path from 'node:path';

const load = (file) => new Function(`return ${readFileSync(path.join(__dirname, '..', file), 'utf8')}`)();
const controller = load('omniPresenceBridgeController.js');
const helper = load('omniPresenceBridgeHelper.js');

function component({ toolkitFails = false } = {}) {
    const toolkit = {
        setServicePresenceStatus: jest.fn(() =>
            toolkitFails ? Promise.reject(new Error('status not allowed')) : Promise.resolve({ statusApiName: 'Busy_Phone' })
        ),
        logout: jest.fn(() => Promise.resolve(true))
    };
    const bridge = { omniStatusChanged: jest.fn(), omniLoggedOut: jest.fn(), omniFailed: jest.fn() };
    const parts = { omniToolkit: toolkit, bridge };
    return { toolkit, bridge, find: (id) => parts[id] };
}
const event = (params) => ({ getParam: (name) => params[name] });

describe('omniPresenceBridge (Aura host)', () => {
    it("passes Omni-Channel's status changes and logouts to the bridge", () => {
        const cmp = component();
        controller.onOmniStatusChanged(cmp, event({ statusId: '0N5A', statusApiName: 'Busy_Phone', reason: 'OmniManualStatusChange' }), helper);
        controller.onOmniLogout(cmp, event({ reason: 'OmniSupervisorLogout' }), helper);
        expect(cmp.bridge.omniStatusChanged).toHaveBeenCalledWith({ statusId: '0N5A', statusApiName: 'Busy_Phone', reason: 'OmniManualStatusChange' });
        expect(cmp.bridge.omniLoggedOut).toHaveBeenCalledWith({ reason: 'OmniSupervisorLogout' });
    });

    it('sets the status the bridge asks for through the toolkit, and logs out', async () => {
        const cmp = component();
        controller.onSetOmniStatus(cmp, event({ statusId: '0N5B', statusApiName: 'Busy_Phone' }), helper);
        controller.onLogOmniOut(cmp, event({}), helper);
        await Promise.resolve();
        expect(cmp.toolkit.setServicePresenceStatus).toHaveBeenCalledWith({ statusId: '0N5B' });
        expect(cmp.toolkit.logout).toHaveBeenCalledTimes(1);
        expect(cmp.bridge.omniFailed).not.toHaveBeenCalled();
    });

    it('tells the bridge when the toolkit refuses', async () => {
        const cmp = component({ toolkitFails: true });
        await helper.setStatus(cmp, '0N5C');
        expect(cmp.bridge.omniFailed).toHaveBeenCalledWith('status not allowed');
    });
});
