({
    // Omni-Channel → the bridge. `reason` arrives from API 66 on; older releases send none.
    onOmniStatusChanged: function (component, event) {
        component.find('bridge').omniStatusChanged({
            statusId: event.getParam('statusId'),
            statusApiName: event.getParam('statusApiName'),
            reason: event.getParam('reason')
        });
    },

    onOmniLogout: function (component, event) {
        component.find('bridge').omniLoggedOut({ reason: event.getParam('reason') });
    },

    // The bridge → Omni-Channel, through the toolkit.
    onSetOmniStatus: function (component, event, helper) {
        helper.setStatus(component, event.getParam('statusId'));
    },

    onLogOmniOut: function (component, event, helper) {
        helper.logOut(component);
    },

    onBridgeProblem: function (component, event) {
        // No UI of its own: the browser console is where an admin looks.
        // eslint-disable-next-line no-console
        console.warn('Presence Bridge Omni-Channel bridge: ' + event.getParam('message'));
    }
});
