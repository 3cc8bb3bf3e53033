import { LightningElement, api, wire } from 'lwc';
import { subscribe, unsubscribe, onError } from 'lightning/empApi';
import userId from '@salesforce/user/Id';
import getMapping from '@salesforce/apex/OmniBridgeController.getMapping';
import getMyPresence from '@salesforce/apex/PresenceController.getMyPresence';
import setMyState from '@salesforce/apex/PresenceController.setMyState';
import { OMNI_ORIGIN_PREFIX, isEcho, omniWriteFor, ourStateFor, ourStateForLogout } from './omniRules';

/**
 * The Omni-Channel bridge's logic, inside the Aura background utility that owns the toolkit
 * (the toolkit and its events are Aura-only). Ours → Omni: it follows /topic/AgentPresence
 * and asks its host, by the `setomnistatus` and `omnilogout` events, to change Omni-Channel.
 * Omni → ours: the host passes Omni-Channel's events to `omniStatusChanged` and
 * `omniLoggedOut`, and it writes our state through Apex, marked as Omni's.
 */
export default class OmniBridge extends LightningElement {
    mapping;
    ourState;
    omniStatus;
    applied;
    subscription;
    /** The last problem (also sent to the host as `bridgeproblem`: the bridge has no UI). */
    lastProblem = '';

    @wire(getMapping)
    wiredMapping({ data, error }) {
        if (data) {
            this.mapping = data;
            if (data.unknownStatuses?.length) {
                this.problem(`Omni-Channel statuses not found in this org: ${data.unknownStatuses.join(', ')}`);
            }
        } else if (error) {
            this.problem(`The Omni-Channel mapping could not be read: ${error.body?.message ?? error.message}`);
        }
    }

    connectedCallback() {
        getMyPresence()
            .then((presence) => {
                this.ourState = presence?.state;
            })
            .catch((error) => this.problem(error.body?.message ?? error.message));
        onError((error) => this.problem(`Live updates paused: ${JSON.stringify(error)}`));
        subscribe(`/topic/AgentPresence?User__c=${userId}`, -1, (message) => this.onOurChange(message?.data?.sobject))
            .then((subscription) => {
                this.subscription = subscription;
            })
            .catch((error) => this.problem(`Live updates unavailable: ${error.message}`));
    }

    disconnectedCallback() {
        if (this.subscription) {
            unsubscribe(this.subscription, () => {});
        }
    }

    onOurChange(sobject) {
        if (!sobject) {
            return;
        }
        const write = omniWriteFor(this.mapping, sobject, this.omniStatus);
        if ('State__c' in sobject) {
            this.ourState = sobject.State__c;
        }
        if (!write) {
            return;
        }
        if (write.kind === 'status') {
            this.applied = { statusApiName: write.statusApiName, atMs: Date.now() };
            this.dispatchEvent(new CustomEvent('setomnistatus', { detail: { statusId: write.statusId, statusApiName: write.statusApiName } }));
        } else {
            this.applied = { statusApiName: '', atMs: Date.now() };
            this.dispatchEvent(new CustomEvent('omnilogout'));
        }
    }

    /** From the host: Omni-Channel's status changed (`lightning:omniChannelStatusChanged`). */
    @api
    omniStatusChanged(change) {
        this.omniStatus = change.statusApiName;
        if (isEcho(change, this.applied, Date.now())) {
            this.applied = undefined;
            return Promise.resolve(null);
        }
        return this.writeOurs(ourStateFor(this.mapping, change.statusApiName, this.ourState), change.reason || 'OmniStatusChange');
    }

    /** From the host: Omni-Channel logged the agent out (`lightning:omniChannelLogout`). */
    @api
    omniLoggedOut(logout) {
        this.omniStatus = null;
        if (this.applied && this.applied.statusApiName === '') {
            this.applied = undefined;
            return Promise.resolve(null);
        }
        return this.writeOurs(ourStateForLogout(this.mapping, logout?.reason, this.ourState), logout?.reason || 'OmniLogout');
    }

    /** From the host: the toolkit refused a change we asked for. */
    @api
    omniFailed(message) {
        this.applied = undefined;
        this.problem(`Omni-Channel did not take the status: ${message}`);
    }

    writeOurs(label, reason) {
        if (!label) {
            return Promise.resolve(null);
        }
        this.ourState = label;
        return setMyState({ label, originClient: `${OMNI_ORIGIN_PREFIX}${reason}` }).catch((error) => {
            this.problem(`"${label}" was not saved: ${error.body?.message ?? error.message}`);
            return null;
        });
    }

    problem(message) {
        this.lastProblem = message;
        this.dispatchEvent(new CustomEvent('bridgeproblem', { detail: { message } }));
    }
}
