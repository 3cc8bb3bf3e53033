({
    setStatus: function (component, statusId) {
        var bridge = component.find('bridge');
        return component
            .find('omniToolkit')
            .setServicePresenceStatus({ statusId: statusId })
            .catch(
                function (error) {
                    bridge.omniFailed(this.describe(error));
                }.bind(this)
            );
    },

    logOut: function (component) {
        var bridge = component.find('bridge');
        return component
            .find('omniToolkit')
            .logout()
            .catch(
                function (error) {
                    bridge.omniFailed(this.describe(error));
                }.bind(this)
            );
    },

    describe: function (error) {
        if (error && error.message) {
            return error.message;
        }
        return String(error);
    }
});
