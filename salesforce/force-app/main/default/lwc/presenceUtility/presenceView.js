// What the utility shows, worked out from records alone (no platform calls), so that each
// rule has one place and the tests can read it.

/** Each presence class's icon and colour, as the desktop app's tray shows them. */
const CLASS_LOOKS = {
    Available: { icon: 'utility:success', variant: 'success', tone: 'available' },
    Away: { icon: 'utility:clock', variant: 'warning', tone: 'away' },
    Busy: { icon: 'utility:record', variant: 'error', tone: 'busy' },
    DoNotDisturb: { icon: 'utility:ban', variant: 'error', tone: 'dnd' },
    Offline: { icon: 'utility:offline', variant: '', tone: 'offline' },
    LoggedOut: { icon: 'utility:logout', variant: '', tone: 'offline' }
};
const UNKNOWN_LOOK = { icon: 'utility:help', variant: '', tone: 'offline' };

/** Where the last change came from (Agent_Presence__c.Source__c), as the agent reads it. */
const SOURCE_TEXT = {
    Salesforce: 'set in Salesforce',
    Teams: 'from Teams',
    Desktop: 'from the desktop app',
    Timer: 'by the wrap-up timer'
};

export function lookOf(presenceClass) {
    return CLASS_LOOKS[presenceClass] ?? UNKNOWN_LOOK;
}

export function sourceText(source) {
    return SOURCE_TEXT[source] ?? '';
}

/** The state records by label (labels are compared ignoring case, as the desktop app does). */
export function statesByLabel(states) {
    const byLabel = new Map();
    for (const state of states ?? []) {
        byLabel.set(String(state.Name).toLowerCase(), state);
    }
    return byLabel;
}

/** The picker's options: the selectable states, in the Call Center's order. */
export function pickOptions(states) {
    return (states ?? []).filter((state) => state.Selectable__c).map((state) => ({ label: state.Name, value: state.Name }));
}

/**
 * Whether the desktop app runs: its heartbeat is younger than the stale limit. The age is
 * measured on the server's clock (serverNow) plus the time since the server answered, so a
 * wrong clock on the agent's machine does not matter.
 */
export function desktopRunning(presence, fetchedAtMs, nowMs) {
    if (!presence || !presence.heartbeatAt || !presence.serverNow) {
        return false;
    }
    const serverNowMs = Date.parse(presence.serverNow) + Math.max(0, nowMs - fetchedAtMs);
    const ageMs = serverNowMs - Date.parse(presence.heartbeatAt);
    return ageMs <= (presence.heartbeatStaleSeconds ?? 120) * 1000;
}

/**
 * Applies a streamed Agent_Presence__c change to what is shown. A change older than the one
 * shown (a lower sequence arriving late) is dropped; fields the event leaves out keep their value.
 */
export function applyStreamed(presence, sobject) {
    if (!sobject) {
        return presence;
    }
    const current = presence ?? {};
    const incoming = sobject.Sequence__c;
    if (incoming !== undefined && incoming !== null && current.sequence !== undefined && current.sequence !== null && incoming < current.sequence) {
        return current;
    }
    const pick = (field, fallback) => (field in sobject ? sobject[field] : fallback);
    return {
        ...current,
        state: pick('State__c', current.state),
        source: pick('Source__c', current.source),
        changedAt: pick('Changed_At__c', current.changedAt),
        sequence: pick('Sequence__c', current.sequence),
        originClient: pick('Origin_Client__c', current.originClient)
    };
}

/**
 * What a re-read of the presence shows: the server's answer, except that a state older than
 * the one shown (a streamed change arrived while the read was under way) keeps the shown one;
 * the heartbeat and the server's clock are always taken. Sequence__c grows with every
 * writer's change (the server bumps it for picks here, the desktop app numbers above it).
 */
export function mergeFetched(current, fetched) {
    if (!fetched || !current || current.sequence === undefined || current.sequence === null) {
        return fetched ?? current;
    }
    if (fetched.sequence !== undefined && fetched.sequence !== null && fetched.sequence < current.sequence) {
        return {
            ...fetched,
            state: current.state,
            source: current.source,
            changedAt: current.changedAt,
            sequence: current.sequence,
            originClient: current.originClient
        };
    }
    return fetched;
}

/** A short time of day for a call row. */
export function timeOfDay(isoDateTime) {
    const date = new Date(isoDateTime);
    if (Number.isNaN(date.getTime())) {
        return '';
    }
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** The message of an Apex or platform error, for the agent. */
export function errorText(error) {
    if (!error) {
        return '';
    }
    if (Array.isArray(error.body)) {
        return error.body.map((entry) => entry.message).join(', ');
    }
    return error.body?.message ?? error.message ?? String(error);
}
