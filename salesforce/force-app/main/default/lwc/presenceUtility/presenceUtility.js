import { LightningElement, wire } from 'lwc';
import { subscribe, unsubscribe, onError } from 'lightning/empApi';
import { EnclosingUtilityId, updateUtility } from 'lightning/platformUtilityBarApi';
import userId from '@salesforce/user/Id';
import getStates from '@salesforce/apex/PresenceController.getStates';
import getMyPresence from '@salesforce/apex/PresenceController.getMyPresence';
import getBlockedCallsToday from '@salesforce/apex/PresenceController.getBlockedCallsToday';
import setMyState from '@salesforce/apex/PresenceController.setMyState';
import { applyStreamed, desktopRunning, errorText, lookOf, mergeFetched, pickOptions, sourceText, statesByLabel, timeOfDay } from './presenceView';

/** Origin_Client__c of a pick made here (PresenceController.CONSOLE_ORIGIN). */
export const CONSOLE_ORIGIN = 'salesforce-console';
/** The heartbeat is not streamed (it would cost an event every 30 s per agent): it is re-read. */
export const HEARTBEAT_CHECK_MS = 30000;

/**
 * The console's presence utility. It reads the agent's presence once, then follows
 * /topic/AgentPresence for the agent (a change made in Teams or the desktop app shows within
 * the stream's latency) and /topic/AgentCalls for blocked calls; picks go through Apex.
 */
export default class PresenceUtility extends LightningElement {
    states = [];
    presence;
    blockedCalls = [];
    errorMessage = '';
    saving = false;
    streamWarning = '';
    fetchedAtMs = 0;
    utilityId;
    subscriptions = [];
    heartbeatTimer;

    @wire(EnclosingUtilityId)
    wiredUtility(id) {
        this.utilityId = id;
        this.updateUtilityLabel();
    }

    @wire(getStates)
    wiredStates({ data, error }) {
        if (data) {
            this.states = data;
            this.updateUtilityLabel();
        } else if (error) {
            this.errorMessage = errorText(error);
        }
    }

    connectedCallback() {
        this.refresh();
        this.follow();
        // eslint-disable-next-line @lwc/lwc/no-async-operation -- the heartbeat's age is re-read on a timer: it is deliberately not streamed
        this.heartbeatTimer = setInterval(() => this.refresh(), HEARTBEAT_CHECK_MS);
    }

    disconnectedCallback() {
        clearInterval(this.heartbeatTimer);
        for (const subscription of this.subscriptions) {
            unsubscribe(subscription, () => {});
        }
        this.subscriptions = [];
    }

    async refresh() {
        try {
            const [presence, blocked] = await Promise.all([getMyPresence(), getBlockedCallsToday()]);
            this.showPresence(mergeFetched(this.presence, presence));
            this.blockedCalls = blocked ?? [];
        } catch (error) {
            this.errorMessage = errorText(error);
        }
    }

    async follow() {
        onError((error) => {
            this.streamWarning = `Live updates paused: ${errorText(error)}`;
        });
        const filter = `?User__c=${userId}`;
        try {
            this.subscriptions.push(await subscribe(`/topic/AgentPresence${filter}`, -1, (message) => this.onPresenceEvent(message)));
            this.subscriptions.push(await subscribe(`/topic/AgentCalls${filter}`, -1, (message) => this.onCallEvent(message)));
        } catch (error) {
            this.streamWarning = `Live updates unavailable: ${errorText(error)}`;
        }
    }

    onPresenceEvent(message) {
        this.presence = applyStreamed(this.presence, message?.data?.sobject);
        this.streamWarning = '';
        this.updateUtilityLabel();
    }

    onCallEvent(message) {
        const status = message?.data?.sobject?.Status__c;
        if (status === 'NotSignalled') {
            getBlockedCallsToday()
                .then((blocked) => {
                    this.blockedCalls = blocked ?? [];
                })
                .catch((error) => {
                    this.errorMessage = errorText(error);
                });
        }
    }

    showPresence(presence) {
        this.presence = presence;
        this.fetchedAtMs = Date.now();
        this.updateUtilityLabel();
    }

    async handlePick(event) {
        const label = event.detail.value;
        this.errorMessage = '';
        this.saving = true;
        try {
            this.showPresence(await setMyState({ label, originClient: CONSOLE_ORIGIN }));
        } catch (error) {
            this.errorMessage = `"${label}" was not saved: ${errorText(error)}`;
            // The combobox shows the pick; put the saved state back.
            this.presence = { ...this.presence };
        } finally {
            this.saving = false;
        }
    }

    updateUtilityLabel() {
        if (!this.utilityId) {
            return;
        }
        const look = this.look;
        const label = this.stateLabel ? `Presence: ${this.stateLabel}` : 'Presence';
        updateUtility(this.utilityId, {
            label,
            icon: look.icon,
            iconVariant: this.desktopRunning ? look.variant : 'warning',
            highlighted: !this.desktopRunning
        }).catch(() => {
            // The utility bar's own label is decoration; the panel shows everything.
        });
    }

    get stateRecord() {
        return statesByLabel(this.states).get(String(this.presence?.state ?? '').toLowerCase());
    }

    get stateLabel() {
        return this.stateRecord?.Name ?? this.presence?.state ?? '';
    }

    get hasState() {
        return Boolean(this.stateLabel);
    }

    get look() {
        return lookOf(this.stateRecord?.Class__c);
    }

    get stateIcon() {
        return this.look.icon;
    }

    get stateClass() {
        return `state state_${this.look.tone}`;
    }

    get sourceLine() {
        return sourceText(this.presence?.source);
    }

    get options() {
        return pickOptions(this.states);
    }

    get pickValue() {
        return this.stateRecord?.Selectable__c ? this.stateRecord.Name : null;
    }

    get pickPlaceholder() {
        return this.stateRecord && !this.stateRecord.Selectable__c ? `${this.stateRecord.Name} (set by Teams or a call)` : 'Pick a state';
    }

    get desktopRunning() {
        return desktopRunning(this.presence, this.fetchedAtMs, Date.now());
    }

    get desktopLine() {
        return this.desktopRunning ? 'Desktop app running' : 'Desktop app not running: calls go to Teams';
    }

    get desktopClass() {
        return this.desktopRunning ? 'desktop desktop_running' : 'desktop desktop_stale';
    }

    get blockedCount() {
        return this.blockedCalls.length;
    }

    get blockedSummary() {
        const count = this.blockedCalls.length;
        if (count === 0) {
            return 'No calls blocked today';
        }
        return count === 1 ? '1 call blocked today' : `${count} calls blocked today`;
    }

    get blockedRows() {
        return this.blockedCalls.map((call) => ({
            key: call.Id ?? call.Call_Id__c,
            time: timeOfDay(call.Offered_At__c),
            from: call.From_Number__c || 'unknown number',
            reason: call.Reason__c || 'presence'
        }));
    }
}
