//! `GET /explain?name=NAME&type=TYPE&client=ADDRESS[&ecs=CIDR]`: how dnslb
//! answers a question for a client, and why.
//!
//! It runs the data plane's own handler ([`handle_traced`]) on a real query
//! packet from `client` (with an ECS option when `ecs` is given), against
//! the current snapshot, with a [`Recorder`] that notes each decision the
//! policy takes. So the answer shown is the answer served, not a
//! re-implementation; only the random draws differ (this thread has its
//! own RNG, as each worker does).

use std::net::IpAddr;
use std::str::FromStr;

use domain::base::iana::{Class, Rtype};
use domain::base::{Message, MessageBuilder, Name, ToName};
use domain::rdata::AllRecordData;
use serde_json::{Value, json};

use crate::balancer::{Recorder, TraceEvent, WorkerState};
use crate::dataplane::handler::{Context, Outcome, handle_traced};
use crate::service::Service;
use crate::snapshot::Snapshot;
use crate::wire::answer::Transport;
use crate::wire::name;
use crate::zone::Lookup;

/// Answers an explain request; `Err` is a message for a 400.
pub fn explain(snapshot: &Snapshot, params: &[(String, String)]) -> Result<Value, String> {
    let get = |key: &str| {
        params
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    };
    let qname_text = get("name").ok_or("missing the name parameter")?;
    let qname = Name::<Vec<u8>>::from_str(qname_text)
        .map_err(|error| format!("name {qname_text:?}: {error}"))?;
    let qtype_text = get("type").unwrap_or("A");
    let qtype = Rtype::from_str(&qtype_text.to_ascii_uppercase())
        .map_err(|_| format!("type {qtype_text:?} is not a record type"))?;
    let client_text = get("client").unwrap_or("127.0.0.1");
    let client = IpAddr::from_str(client_text)
        .map_err(|_| format!("client {client_text:?} is not an IP address"))?;
    let ecs = match get("ecs") {
        Some(text) => Some(
            ipnet::IpNet::from_str(text)
                .map_err(|_| format!("ecs {text:?} is not a CIDR network"))?,
        ),
        None => None,
    };

    let packet = query_packet(&qname, qtype, ecs)
        .map_err(|error| format!("cannot build the query: {error}"))?;
    let mut worker = WorkerState::new(crate::sys::random::random_u64());
    let mut recorder = Recorder::default();
    let mut out = vec![0u8; crate::wire::MAX_MESSAGE_LEN];
    let mut context = Context {
        source: client,
        worker: &mut worker,
        trace: &mut recorder,
    };
    let outcome = handle_traced(snapshot, &packet, &mut out, Transport::Tcp, &mut context);
    let (reply, rcode) = match outcome {
        Outcome::Reply { len, rcode, .. } => (describe_reply(&out[..len]), rcode.name()),
        Outcome::Drop(reason) => (json!(null), reason.name()),
    };
    let services: Vec<Value> = services_touched(snapshot, &out, &qname)
        .into_iter()
        .map(|service| describe_service(snapshot, service))
        .collect();
    let decisions: Vec<Value> = recorder
        .events()
        .iter()
        .map(|event| describe_event(snapshot, event))
        .collect();
    Ok(json!({
        "name": qname.to_string(),
        "type": qtype.to_string(),
        "client": client.to_string(),
        "ecs": ecs.map(|network| network.to_string()),
        "rcode": rcode,
        "reply": reply,
        "services": services,
        "decisions": decisions,
    }))
}

fn query_packet(
    qname: &Name<Vec<u8>>,
    qtype: Rtype,
    ecs: Option<ipnet::IpNet>,
) -> Result<Vec<u8>, domain::base::message_builder::PushError> {
    let mut builder = MessageBuilder::new_vec().question();
    builder.push((qname, qtype, Class::IN))?;
    let mut additional = builder.additional();
    additional.opt(|opt| {
        opt.set_udp_payload_size(1232);
        if let Some(network) = ecs {
            opt.client_subnet(network.prefix_len(), 0, network.network())?;
        }
        Ok(())
    })?;
    Ok(additional.finish())
}

/// The reply's sections as dig-style record lines.
fn describe_reply(reply: &[u8]) -> Value {
    let Ok(message) = Message::from_slice(reply) else {
        return json!(null);
    };
    let header = message.header();
    let mut sections = Vec::new();
    let Ok(mut section) = message.answer() else {
        return json!(null);
    };
    loop {
        let mut records = Vec::new();
        for record in section.by_ref().flatten() {
            if record.rtype() == Rtype::OPT {
                continue;
            }
            if let Ok(record) = record.to_any_record::<AllRecordData<_, _>>() {
                records.push(record.to_string());
            }
        }
        sections.push(records);
        match section.next_section() {
            Ok(Some(next)) => section = next,
            _ => break,
        }
    }
    let section = |index: usize| sections.get(index).cloned().unwrap_or_default();
    json!({
        "authoritative": header.aa(),
        "truncated": header.tc(),
        "answer": section(0),
        "authority": section(1),
        "additional": section(2),
    })
}

/// Services at the question name or at any owner in the answer (a CNAME
/// chain can lead to one).
fn services_touched<'s>(
    snapshot: &'s Snapshot,
    reply: &[u8],
    qname: &Name<Vec<u8>>,
) -> Vec<&'s Service> {
    let mut owners = vec![name::to_lowercase(qname.as_slice())];
    if let Ok(message) = Message::from_slice(reply) {
        if let Ok(answer) = message.answer() {
            for record in answer.flatten() {
                let owner = record.owner().to_name::<Vec<u8>>();
                owners.push(name::to_lowercase(owner.as_slice()));
            }
        }
    }
    let mut found: Vec<&Service> = Vec::new();
    for owner in owners {
        if let Lookup::Exact(id) = snapshot.table.lookup(&owner) {
            if let Some(service) = snapshot.table.node(id).service() {
                let service = &snapshot.services.entries[service as usize];
                if !found.iter().any(|known| std::ptr::eq(*known, service)) {
                    found.push(service);
                }
            }
        }
    }
    found
}

fn region_name(snapshot: &Snapshot, region: Option<u16>) -> Value {
    region
        .and_then(|region| snapshot.services.regions.get(usize::from(region)))
        .map_or(Value::Null, |name| json!(name))
}

fn describe_service(snapshot: &Snapshot, service: &Service) -> Value {
    let backends: Vec<Value> = service
        .backends
        .iter()
        .map(|backend| {
            json!({
                "target": backend.target.to_string(),
                "weight": backend.info.weight,
                "priority": backend.info.priority,
                "region": region_name(snapshot, backend.info.region),
                "state": backend.state.health.name(),
                "drained": backend.state.drained,
                "available": backend.info.up,
                "load": backend.info.load,
            })
        })
        .collect();
    json!({
        "name": name::display(&service.name),
        "policy": service.policy.name(),
        "answers": service.answers,
        "ttl": service.ttl,
        "when_all_down": service.when_all_down.name(),
        "backends": backends,
    })
}

fn describe_event(snapshot: &Snapshot, event: &TraceEvent) -> Value {
    match *event {
        TraceEvent::Region { region, prefix_len } => json!({
            "event": "client_region",
            "region": region_name(snapshot, region),
            "prefix_len": prefix_len,
        }),
        TraceEvent::RegionFallback { from, to } => json!({
            "event": "region_fallback",
            "from": region_name(snapshot, Some(from)),
            "to": region_name(snapshot, Some(to)),
        }),
        TraceEvent::EveryRegion => json!({ "event": "every_region" }),
        TraceEvent::HashKey { key, prefix_len } => json!({
            "event": "hash_bucket",
            "key": format!("{key:016x}"),
            "prefix_len": prefix_len,
        }),
        TraceEvent::PriorityLevel { priority } => {
            json!({ "event": "priority_level", "priority": priority })
        }
        TraceEvent::AllDown { action } => json!({
            "event": "all_down",
            "action": action.name(),
        }),
        TraceEvent::Candidates { count } => json!({ "event": "candidates", "count": count }),
        TraceEvent::Picked { index, reason } => json!({
            "event": "picked",
            "member": index,
            "reason": reason.name(),
        }),
    }
}
