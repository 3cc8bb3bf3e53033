//! The emulated org's Salesforce schema: the fields each object accepts and its external ids
//! (what our package defines, and the standard objects we touch). Kept apart from the world's
//! state, so that it can later be read from the package's metadata instead.

/// Fields the emulator accepts on each object; anything else is `INVALID_FIELD`.
pub fn object_fields(sobject: &str) -> Option<&'static [&'static str]> {
    Some(match sobject {
        "Agent_Presence__c" => &[
            "Name",
            "User__c",
            "State__c",
            "Source__c",
            "Changed_At__c",
            "Sequence__c",
            "Origin_Client__c",
            "Teams_Availability__c",
            "Teams_Activity__c",
            "Out_Of_Office__c",
            "Heartbeat_At__c",
            "OwnerId",
        ],
        "Agent_Call__c" => &[
            "Name",
            "Call_Id__c",
            "User__c",
            "Kind__c",
            "From_Number__c",
            "To_Number__c",
            "Status__c",
            "Reason__c",
            "Offered_At__c",
            "Answered_At__c",
            "Ended_At__c",
            "OwnerId",
        ],
        "Task" => &[
            "Subject",
            "TaskSubtype",
            "CallType",
            "CallDisposition",
            "CallDurationInSeconds",
            "CallObject",
            "WhoId",
            "WhatId",
            "ActivityDate",
            "Status",
            "Priority",
            "Description",
            "OwnerId",
            "Call_Log_Key__c",
        ],
        "Contact" => &[
            "FirstName",
            "LastName",
            "Name",
            "Phone",
            "MobilePhone",
            "AccountId",
        ],
        "Lead" => &[
            "FirstName",
            "LastName",
            "Name",
            "Company",
            "Phone",
            "MobilePhone",
        ],
        "Account" => &["Name", "Phone"],
        "User" => &["Name", "Username", "Email", "IsActive"],
        "Call_Center__c" => &[
            "Name",
            "Wrap_Up_Seconds__c",
            "Presence_Routing__c",
            "Sync_Direction__c",
            "Log_Missed_Calls__c",
        ],
        "Call_Center_Presence_State__c" => &[
            "Name",
            "Class__c",
            "Teams_Availability__c",
            "Teams_Activity__c",
            "Selectable__c",
            "Signals_Inbound__c",
            "Allows_Outbound__c",
            "Sort_Order__c",
            "Call_Center__c",
        ],
        _ => return None,
    })
}

/// External id fields usable for upsert.
pub fn external_id_fields(sobject: &str) -> &'static [&'static str] {
    match sobject {
        "Agent_Presence__c" => &["User__c"],
        "Agent_Call__c" => &["Call_Id__c"],
        "Task" => &["Call_Log_Key__c"],
        _ => &[],
    }
}
