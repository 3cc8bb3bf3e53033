// The Omni-Channel bridge's rules, without any platform call: which Omni status our state
// asks for, which of our states an Omni status asks for, and which changes are echoes.

/** Origin_Client__c prefix of our writes made because Omni-Channel changed. */
export const OMNI_ORIGIN_PREFIX = 'omni:';
/** The toolkit's reason for a change we made through it (API 66; older releases send none). */
export const TOOLKIT_REASON = 'OmniToolkitStatusChange';
/** How long a status we applied is expected back as an echo when no reason arrives. */
export const ECHO_WINDOW_MS = 10000;
/** Omni-Channel logouts that are not the agent's or a supervisor's decision. */
const INCIDENTAL_LOGOUTS = new Set(['DuplicateLogin', 'DuplicateLoginInSameBrowser', 'MaintenanceLogout']);

const same = (a, b) => String(a ?? '').toLowerCase() === String(b ?? '').toLowerCase();

export function stateNamed(mapping, label) {
    return (mapping?.states ?? []).find((state) => same(state.label, label));
}

/**
 * What Omni-Channel should do when our state changed (a streamed Agent_Presence__c), or null:
 * `{ kind: 'status', statusId, statusApiName }` or `{ kind: 'logout' }`.
 * Nothing when the bridge is off, when the change was itself caused by Omni-Channel (our
 * marker on Origin_Client__c), when the state names no Omni status, or when Omni already
 * shows it.
 */
export function omniWriteFor(mapping, sobject, currentOmniStatus) {
    if (!mapping?.enabled || !sobject || !('State__c' in sobject)) {
        return null;
    }
    if (String(sobject.Origin_Client__c ?? '').startsWith(OMNI_ORIGIN_PREFIX)) {
        return null;
    }
    const state = stateNamed(mapping, sobject.State__c);
    if (!state) {
        return null;
    }
    if (state.omniStatus) {
        if (!state.omniStatusId || same(state.omniStatus, currentOmniStatus)) {
            return null;
        }
        return { kind: 'status', statusId: state.omniStatusId, statusApiName: state.omniStatus };
    }
    // currentOmniStatus is null once Omni-Channel said it logged out, undefined while unknown.
    if (state.presenceClass === 'LoggedOut' && currentOmniStatus !== null) {
        return { kind: 'logout' };
    }
    return null;
}

/** Whether an Omni status change is the echo of one we applied. */
export function isEcho(change, applied, nowMs) {
    if (change.reason === TOOLKIT_REASON) {
        return true;
    }
    if (change.reason) {
        return false;
    }
    return Boolean(applied && same(applied.statusApiName, change.statusApiName) && nowMs - applied.atMs <= ECHO_WINDOW_MS);
}

/**
 * Which of our states an Omni status change asks for (its label), or null. Our current state
 * is kept when it already maps to that status (Lunch and Away may share Omni's "Away"); else
 * the first selectable state, in the Call Center's order, that names the status.
 */
export function ourStateFor(mapping, statusApiName, currentLabel) {
    if (!mapping?.enabled || !statusApiName) {
        return null;
    }
    const current = stateNamed(mapping, currentLabel);
    if (current && same(current.omniStatus, statusApiName)) {
        return null;
    }
    const target = mapping.states.find((state) => state.selectable && same(state.omniStatus, statusApiName));
    return target ? target.label : null;
}

/** Which of our states an Omni-Channel logout asks for: the Logout state, unless incidental. */
export function ourStateForLogout(mapping, reason, currentLabel) {
    if (!mapping?.enabled || INCIDENTAL_LOGOUTS.has(reason)) {
        return null;
    }
    const logout = mapping.states.find((state) => state.presenceClass === 'LoggedOut');
    if (!logout || same(logout.label, currentLabel)) {
        return null;
    }
    return logout.label;
}
