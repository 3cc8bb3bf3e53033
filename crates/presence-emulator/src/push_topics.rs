//! PushTopic delivery: a record change becomes an event on every topic of its object whose
//! query selects a changed field, is retained for replay, and is queued for each subscriber
//! whose filter it matches and who may see the record (its owner).

use serde_json::{json, Map, Value};

use crate::clock::iso_z;
use crate::world::{StreamEvent, World};

impl World {
    /// Publishes a change on every PushTopic of the object, when a selected field changed.
    pub(crate) fn stream_change(
        &mut self,
        sobject: &str,
        id: &str,
        event_type: &str,
        changed: Option<&[String]>,
    ) {
        let now = self.now_ms();
        let Some(record) = self.record(sobject, id).cloned() else {
            return;
        };
        let retention_ms = self.settings.replay_retention_s as i64 * 1000;
        let mut published = Vec::new();
        for topic in self.topics.values_mut().filter(|t| t.sobject == sobject) {
            if let Some(changed) = changed {
                if !changed.iter().any(|field| topic.fields.contains(field)) {
                    continue;
                }
            }
            let mut selected = Map::new();
            for field in &topic.fields {
                selected.insert(
                    field.clone(),
                    record.get(field).cloned().unwrap_or(Value::Null),
                );
            }
            // Replay ids increase but are not contiguous.
            let replay_id = topic.next_replay;
            topic.next_replay += 1 + (replay_id % 3);
            topic.latest_replay = replay_id;
            let event = StreamEvent {
                replay_id,
                created_ms: now,
                record: selected,
                event_type: event_type.to_string(),
                owner: record
                    .get("OwnerId")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            };
            topic.events.push_back(event.clone());
            while topic
                .events
                .front()
                .is_some_and(|e| now - e.created_ms > retention_ms)
            {
                topic.events.pop_front();
            }
            published.push((topic.name.clone(), event));
        }
        for (topic, event) in published {
            self.deliver(&topic, &event);
        }
    }

    /// Queues an event for every client whose subscription (and filter) matches and whose
    /// user may see the record.
    pub fn deliver(&mut self, topic: &str, event: &StreamEvent) {
        for client in self.comet_clients.values_mut() {
            if !(client.sees_all || event.visible_to(&client.user_id)) {
                continue;
            }
            for (channel, (subscribed_topic, filter)) in &client.subscriptions {
                if subscribed_topic == topic && matches_filter(&event.record, filter) {
                    client.queue.push_back(event_message(channel, event));
                }
            }
        }
    }
}

/// Whether a record matches a PushTopic subscription filter (`&` acts as OR, as Salesforce
/// documents; an empty filter matches everything).
pub fn matches_filter(record: &Map<String, Value>, filter: &[(String, String)]) -> bool {
    filter.is_empty()
        || filter.iter().any(|(field, value)| match record.get(field) {
            Some(Value::String(text)) => text == value,
            Some(other) => value.parse::<Value>().is_ok_and(|parsed| parsed == *other),
            None => false,
        })
}

/// A PushTopic event message as Salesforce streams it.
pub fn event_message(channel: &str, event: &StreamEvent) -> Value {
    json!({
        "channel": channel,
        "data": {
            "event": {
                "createdDate": iso_z(event.created_ms),
                "replayId": event.replay_id,
                "type": event.event_type,
            },
            "sobject": Value::Object(event.record.clone()),
        }
    })
}
