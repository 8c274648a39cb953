//! Patching a name table for the names an IXFR changed, instead of building
//! it again from every zone.
//!
//! A patched table shares its base (the table as last built whole) and adds
//! an overlay: the changed names, rendered again from the zone's new data,
//! and any empty non-terminals new names bring. Lookups ask the overlay
//! first (a small index, kept hot), then the base. Each patch renders the
//! names of every patch since the base was built, so a name changed twice
//! answers from its latest data, and the overlay stays small: past
//! [`max_patched`] names the table is built whole again.
//!
//! A change whose effect reaches beyond its own name is not patched; the
//! caller builds the table whole instead. That is a change:
//! - of NS or DS records, at a wildcard, at or below a delegation, at a
//!   service name, or below another zone we serve (cuts, referrals, DS
//!   answers and wildcard links span names);
//! - to a name whose A or AAAA records other RRsets carry as additional
//!   data or glue (MX, NS and SRV targets: those RRsets were rendered with
//!   them);
//! - that removes the last record of a name the base has (whether the name
//!   stays as an empty non-terminal depends on names below it);
//! - to the apex of a zone whose parent zone we serve too (its DS answer is
//!   the parent's), or of a zone with a child zone we serve (the child's
//!   apex answers DS from this zone's data and SOA);
//! - when the zones are not the ones the base was built from (added,
//!   removed, or now served or not), or an earlier patch was of another
//!   zone (an overlay holds one zone's names).

use super::{
    FastSet, Layer, NO_CNAME, NONE, NameIndex, NameTable, Node, OVERLAY, Overlay, TableZone,
    additional_targets, cname_at, render_entry, render_negative, rrsets_len,
};
use crate::wire::fragment::FragmentStore;
use crate::wire::{name, rtype};

/// How many names an overlay may hold for a base of `base_names` names:
/// a sixteenth of them, at least 64 and at most 65,536. A larger change
/// costs a whole build anyway; the overlay costs each query one more probe
/// of an index this small.
pub(super) fn max_patched(base_names: usize) -> usize {
    (base_names / 16).clamp(64, 65_536)
}

impl NameTable {
    /// This table with the names `changed` (lowercase owners an IXFR added
    /// records to or removed records from) of `zones[zone]` rendered again
    /// from its data, or `None` when the change is not one a patch can make
    /// (see the module docs): build the table whole then. `zones` must be
    /// the zones this table was built from, in the same order, with only
    /// `zones[zone]`'s data changed since; the services are the same.
    pub fn patched(
        &self,
        zones: &[TableZone<'_>],
        zone: usize,
        changed: &[&[u8]],
    ) -> Option<NameTable> {
        let base = &self.base;
        let source = zones.get(zone)?;
        if zones.len() != base.zones.len()
            || !source.serving
            || zones.iter().zip(&base.zones).any(|(zone, entry)| {
                *zone.data.apex != *entry.apex || zone.serving != entry.serving
            })
        {
            return None;
        }
        let data = source.data;
        let apex = data.apex.as_slice();
        let zone_id = zone as u32;
        // The changed names since the base, this patch's last.
        let mut names: Vec<Box<[u8]>> = Vec::new();
        let mut known: FastSet<&[u8]> = FastSet::default();
        let earlier = self
            .overlay
            .as_ref()
            .map_or(&[][..], |overlay| &overlay.names);
        for name in earlier
            .iter()
            .map(|name| &**name)
            .chain(changed.iter().copied())
        {
            if known.insert(name) {
                names.push(name.into());
            }
        }
        if names.len() > max_patched(base.nodes.len()) {
            return None;
        }
        let served_parent = zones.iter().any(|other| {
            other.serving
                && *other.data.apex != *apex
                && name::is_at_or_below(apex, &other.data.apex)
        });
        let children: Vec<&[u8]> = zones
            .iter()
            .map(|other| other.data.apex.as_slice())
            .filter(|other| *other != apex && name::is_at_or_below(other, apex))
            .collect();

        let mut layer = Layer {
            index: NameIndex::new(Vec::new(), Vec::new()),
            nodes: Vec::new(),
            rrsets: Vec::new(),
            zones: base.zones.clone(),
            referrals: Vec::new(),
            targets: Vec::new(),
            any_hinfo: base.any_hinfo,
            fragments: FragmentStore::new(),
            additional_names: FastSet::default(),
        };
        let mut arena: Vec<u8> = Vec::new();
        let mut spans: Vec<(u32, u32)> = Vec::new();
        let mut in_overlay: FastSet<&[u8]> = FastSet::default();
        let mut kept: Vec<Box<[u8]>> = Vec::with_capacity(names.len());
        let mut added = 0u32;
        // Whether `target`'s addresses are the zone's to give as additional
        // data for an RRset of `rtype` (as the whole build decides): in
        // this zone and not a child's, not a service, and authoritative, or
        // glue for the apex NS.
        let eligible = |target: &[u8], rtype: u16| match self.base_encloser(target) {
            Some((node, exact)) => {
                node.zone == zone_id
                    && !(exact && node.service != NONE)
                    && (node.referral == NONE || rtype == rtype::NS)
            }
            None => false,
        };
        let mut noted: FastSet<Box<[u8]>> = FastSet::default();

        for name in &names {
            let name: &[u8] = name;
            if name::is_wildcard(name)
                || !name::is_at_or_below(name, apex)
                || children
                    .iter()
                    .any(|child| name::is_at_or_below(name, child))
                || base.additional_names.contains(name)
                || (name == apex && (served_parent || !children.is_empty()))
            {
                return None;
            }
            let in_base = base.index.get(name).map(|id| base.nodes[id as usize]);
            match in_base {
                Some(node) => {
                    let has_ds = self.record_set(&node, rtype::DS).is_some();
                    if node.zone != zone_id
                        || node.referral != NONE
                        || node.is_cut
                        || node.service != NONE
                        || has_ds
                    {
                        return None;
                    }
                }
                None => match self.base_encloser(name) {
                    Some((encloser, _))
                        if encloser.zone == zone_id && encloser.referral == NONE => {}
                    _ => return None,
                },
            }
            let sets = match data.nodes.get(name) {
                Some(sets) if !sets.is_empty() => sets.as_slice(),
                // Gone: a name only earlier patches added drops out; one the
                // base has may stay as an empty non-terminal or not.
                _ if in_base.is_none() => continue,
                _ => return None,
            };
            // NS or DS below the apex is a delegation; at the apex they
            // must not have changed (compared as rendered, below).
            if name != apex
                && sets
                    .iter()
                    .any(|set| matches!(set.rtype, rtype::NS | rtype::DS))
            {
                return None;
            }
            let rrsets_start = layer.rrsets.len() as u32;
            let mut cname = NO_CNAME;
            for set in sets {
                let targets = additional_targets(data, set, &eligible, &mut noted);
                let mut entry = render_entry(
                    &mut layer.fragments,
                    &mut layer.targets,
                    set,
                    name,
                    &targets,
                );
                if matches!(set.rtype, rtype::NS | rtype::DS) {
                    let old = in_base.and_then(|node| self.record_set(&node, set.rtype))?;
                    let rendered = |store: &FragmentStore, id, count| {
                        std::iter::once(store.get(id))
                            .chain(store.continuations(id, count))
                            .map(|fragment| (fragment.bytes.to_vec(), fragment.fixups.to_vec()))
                            .collect::<Vec<_>>()
                    };
                    let (old_store, old_id) = self.store(old.direct);
                    if old.additional != entry.additional
                        || rendered(old_store, old_id, old.additional)
                            != rendered(&layer.fragments, entry.direct, entry.additional)
                    {
                        return None;
                    }
                }
                if entry.target != NONE {
                    cname = cname_at(layer.rrsets.len() - rrsets_start as usize);
                    entry.target |= OVERLAY;
                }
                entry.direct = entry.direct.marked();
                entry.chained = entry.chained.marked();
                layer.rrsets.push(entry);
            }
            spans.push((arena.len() as u32, name.len() as u32));
            arena.extend_from_slice(name);
            layer.nodes.push(Node {
                zone: zone_id,
                rrsets_start: rrsets_start | OVERLAY,
                rrsets_len: rrsets_len(layer.rrsets.len() - rrsets_start as usize),
                cname,
                wildcard: in_base.map_or(NONE, |node| node.wildcard),
                referral: NONE,
                service: NONE,
                is_cut: false,
            });
            in_overlay.insert(name);
            kept.push(name.into());
            if in_base.is_none() {
                added += 1;
            }
        }
        // A name the base lacks may bring empty non-terminals above it.
        for name in &names {
            let mut current: &[u8] = name;
            if !in_overlay.contains(current) || base.index.get(current).is_some() {
                continue;
            }
            while current != apex {
                let Some(parent) = name::parent(current) else {
                    break;
                };
                if base.index.get(parent).is_some() || !in_overlay.insert(parent) {
                    break;
                }
                spans.push((arena.len() as u32, parent.len() as u32));
                arena.extend_from_slice(parent);
                layer.nodes.push(Node {
                    zone: zone_id,
                    rrsets_start: layer.rrsets.len() as u32 | OVERLAY,
                    rrsets_len: 0,
                    cname: NO_CNAME,
                    wildcard: NONE,
                    referral: NONE,
                    service: NONE,
                    is_cut: false,
                });
                added += 1;
                current = parent;
            }
        }
        if known.contains(apex) {
            let negative_direct = render_negative(&mut layer.fragments, data, Some(apex));
            let negative_chained = render_negative(&mut layer.fragments, data, None);
            let entry = &mut layer.zones[zone];
            entry.negative_direct = negative_direct.marked();
            entry.negative_chained = negative_chained.marked();
        }
        layer.index = NameIndex::with_seed(arena, spans, base.index.seed);
        if layer.fragments.is_full() {
            return None;
        }
        layer.fragments.shrink_to_fit();
        Some(NameTable {
            base: base.clone(),
            overlay: Some(Box::new(Overlay {
                layer,
                names: kept,
                added,
            })),
        })
    }

    /// The base's node at `wanted` or, if it has none, at its closest
    /// ancestor, with whether it is `wanted` itself.
    fn base_encloser(&self, wanted: &[u8]) -> Option<(Node, bool)> {
        let mut current = wanted;
        let mut exact = true;
        loop {
            if let Some(id) = self.base.index.get(current) {
                return Some((self.base.nodes[id as usize], exact));
            }
            current = name::parent(current)?;
            exact = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::zone;
    use super::super::{Lookup, NameTable, TableZone};
    use crate::wire::rtype;
    use crate::zone::{ZoneData, contents};

    const BEFORE: &str = "$ORIGIN example.com.\n$TTL 300\n\
        @ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\n@ NS ns2.sub\n@ MX 10 mail\n\
        ns1 A 192.0.2.1\nmail A 192.0.2.25\nwww A 192.0.2.80\nwww AAAA 2001:db8::80\n\
        www MX 20 mail\nalias CNAME www\nold TXT \"old\"\n*.wild TXT \"wild\"\n\
        sub NS ns2.sub\nns2.sub A 192.0.2.2\nhost.deep.tree A 192.0.2.9\n\
        svc TXT \"service here\"\n";

    /// `BEFORE` with a new serial, www's A and MX changed, a new name two
    /// labels under a new empty non-terminal, a name with data under a
    /// wildcard's parent, a CNAME retargeted, and a TXT replaced.
    const AFTER: &str = "$ORIGIN example.com.\n$TTL 300\n\
        @ SOA ns1 hostmaster 2 7200 900 1209600 60\n@ NS ns1\n@ NS ns2.sub\n@ MX 10 mail\n\
        ns1 A 192.0.2.1\nmail A 192.0.2.25\nwww A 192.0.2.81\nwww AAAA 2001:db8::80\n\
        www MX 30 mail\nwww MX 40 ns1\nalias CNAME mail\nold TXT \"new\"\n*.wild TXT \"wild\"\n\
        x.wild A 192.0.2.7\nsub NS ns2.sub\nns2.sub A 192.0.2.2\nhost.deep.tree A 192.0.2.9\n\
        a.b.fresh AAAA 2001:db8::7\nsvc TXT \"service here\"\n";

    /// The owners whose record sets differ between `before` and `after`.
    fn changed(before: &ZoneData, after: &ZoneData) -> Vec<Vec<u8>> {
        let (before, after) = (contents(before), contents(after));
        let mut names: Vec<Vec<u8>> = before
            .iter()
            .filter(|set| !after.contains(set))
            .chain(after.iter().filter(|set| !before.contains(set)))
            .map(|set| set.0.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// What `table` answers for `qname` and `qtype`, as text: the kind of
    /// lookup and the bytes and holes of every fragment the answer takes.
    fn answer(table: &NameTable, qname: &[u8], qtype: u16) -> String {
        let fragment = |id| {
            let fragment = table.fragment(id);
            format!(
                "{:?} {:?} {:?}",
                fragment.bytes, fragment.fixups, fragment.counts
            )
        };
        let node_answer = |id: u32, kind: &str| {
            let node = table.node(id);
            let set = table.record_set(node, qtype);
            let additional = set.map(|set| {
                let (store, id) = table.store(set.direct);
                store
                    .continuations(id, set.additional)
                    .map(|fragment| format!("{:?}", fragment.bytes))
                    .collect::<Vec<_>>()
            });
            format!(
                "{kind} zone {} service {:?} referral {:?} cut {} data {} set {:?} chained {:?} \
                 additional {additional:?} cname {:?} target {:?}",
                node.zone,
                node.service(),
                node.referral(),
                node.is_cut(),
                node.has_data(),
                set.map(|set| fragment(set.direct)),
                set.map(|set| fragment(set.chained)),
                table.cname(node).map(|set| fragment(set.direct)),
                table.cname(node).and_then(|set| table.cname_target(set)),
            )
        };
        match table.lookup(qname) {
            Lookup::Exact(id) => node_answer(id, "exact"),
            Lookup::Wildcard(id) => node_answer(id, "wildcard"),
            Lookup::Referral(id) => {
                format!("referral {}", fragment(table.referral(id).direct))
            }
            Lookup::NxDomain { zone } => {
                let entry = table.zone(zone);
                format!(
                    "nxdomain {zone} {} {}",
                    fragment(entry.negative_direct),
                    fragment(entry.negative_chained)
                )
            }
            other => format!("{other:?}"),
        }
    }

    /// Every answer of `table` for the names of `zones` (and their
    /// children and some more), with the negative answers of each zone.
    fn answers(table: &NameTable, zones: &[&ZoneData], extra: &[&[u8]]) -> Vec<String> {
        let mut names: Vec<Vec<u8>> = extra.iter().map(|name| name.to_vec()).collect();
        for zone in zones {
            for owner in zone.nodes.keys() {
                names.push(owner.to_vec());
                let mut child = b"\x05child".to_vec();
                child.extend_from_slice(owner);
                names.push(child);
            }
        }
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in &names {
            for qtype in [
                rtype::A,
                rtype::AAAA,
                rtype::MX,
                rtype::TXT,
                rtype::CNAME,
                rtype::NS,
                rtype::SOA,
                rtype::DS,
            ] {
                out.push(format!(
                    "{} {qtype}: {}",
                    crate::wire::name::display(name),
                    answer(table, name, qtype)
                ));
            }
        }
        for zone in 0..table.zone_count() as u32 {
            let entry = table.zone(zone);
            out.push(format!(
                "zone {zone}: {:?} {:?}",
                table.fragment(entry.negative_direct).bytes,
                table.fragment(entry.negative_chained).bytes
            ));
        }
        out
    }

    /// Asserts that `patched` answers every name of `zones` (and `EXTRA`)
    /// as `whole` does, answer by answer.
    fn assert_same_answers(patched: &NameTable, whole: &NameTable, zones: &[&ZoneData]) {
        let (patched, whole) = (answers(patched, zones, EXTRA), answers(whole, zones, EXTRA));
        for (patched, whole) in patched.iter().zip(&whole) {
            assert_eq!(patched, whole);
        }
        assert_eq!(patched.len(), whole.len());
    }

    const EXTRA: &[&[u8]] = &[
        b"\x05fresh\x07example\x03com\x00",
        b"\x01b\x05fresh\x07example\x03com\x00",
        b"\x04deep\x07example\x03com\x00",
        b"\x04tree\x07example\x03com\x00",
        b"\x03any\x04wild\x07example\x03com\x00",
        b"\x07missing\x07example\x03com\x00",
        b"\x03www\x03sub\x07example\x03com\x00",
    ];

    fn refs(names: &[Vec<u8>]) -> Vec<&[u8]> {
        names.iter().map(Vec::as_slice).collect()
    }

    #[test]
    fn a_patched_table_answers_as_one_built_whole() {
        let before = zone("example.com.", BEFORE);
        let after = zone("example.com.", AFTER);
        let services: &[&[u8]] = &[b"\x03svc\x07example\x03com\x00"];
        let base = NameTable::build(&[(&before).into()], services);
        let changed = changed(&before, &after);
        assert_eq!(changed.len(), 6, "{changed:?}");
        let patched = base
            .patched(&[(&after).into()], 0, &refs(&changed))
            .expect("a patchable change");
        let whole = NameTable::build(&[(&after).into()], services);
        assert!(base.is_complete() && patched.is_complete() && whole.is_complete());
        assert_eq!(patched.patched_names(), changed.len());
        assert_eq!(patched.name_count(), whole.name_count());
        assert_same_answers(&patched, &whole, &[&before, &after]);
    }

    #[test]
    fn a_second_patch_keeps_the_first_and_answers_as_built_whole() {
        let before = zone("example.com.", BEFORE);
        let middle = zone("example.com.", AFTER);
        let after = zone(
            "example.com.",
            &AFTER
                .replace("hostmaster 2", "hostmaster 3")
                .replace("x.wild A 192.0.2.7", "x.wild A 192.0.2.8")
                .replace("a.b.fresh AAAA 2001:db8::7\n", ""),
        );
        let base = NameTable::build(&[(&before).into()], &[]);
        let first = base
            .patched(&[(&middle).into()], 0, &refs(&changed(&before, &middle)))
            .expect("first patch");
        let second = first
            .patched(&[(&after).into()], 0, &refs(&changed(&middle, &after)))
            .expect("second patch");
        let whole = NameTable::build(&[(&after).into()], &[]);
        assert_eq!(second.name_count(), whole.name_count());
        assert_same_answers(&second, &whole, &[&before, &middle, &after]);
    }

    #[test]
    fn changes_that_reach_beyond_their_name_are_not_patched() {
        let before = zone("example.com.", BEFORE);
        let services: &[&[u8]] = &[b"\x03svc\x07example\x03com\x00"];
        let base = NameTable::build(&[(&before).into()], services);
        for (what, from, to) in [
            (
                "an MX target's address",
                "mail A 192.0.2.25",
                "mail A 192.0.2.26",
            ),
            ("sibling glue", "ns2.sub A 192.0.2.2", "ns2.sub A 192.0.2.3"),
            ("an NS set", "@ NS ns1\n", "@ NS ns1\n@ NS ns3\n"),
            ("a delegation", "sub NS ns2.sub", "sub NS ns3.sub"),
            ("a wildcard", "*.wild TXT \"wild\"", "*.wild TXT \"wilder\""),
            ("a name removed", "old TXT \"old\"\n", ""),
            (
                "a service name",
                "svc TXT \"service here\"",
                "svc TXT \"moved\"",
            ),
            (
                "below a cut",
                "ns2.sub A 192.0.2.2\n",
                "ns2.sub A 192.0.2.2\nx.sub A 192.0.2.4\n",
            ),
        ] {
            assert!(BEFORE.contains(from), "{what}");
            let after = zone("example.com.", &BEFORE.replace(from, to));
            let changed = changed(&before, &after);
            assert!(!changed.is_empty(), "{what}");
            assert!(
                base.patched(&[(&after).into()], 0, &refs(&changed))
                    .is_none(),
                "{what} was patched"
            );
        }
    }

    #[test]
    fn a_parent_with_a_served_child_is_patched_below_its_apex_only() {
        let parent = |serial: u32, www: &str| {
            zone(
                "example.com.",
                &format!(
                    "$ORIGIN example.com.\n$TTL 300\n\
                     @ SOA ns1 hostmaster {serial} 7200 900 1209600 60\n@ NS ns1\n\
                     ns1 A 192.0.2.1\nwww A {www}\nsub NS ns1.sub\nns1.sub A 192.0.2.53\n"
                ),
            )
        };
        let child = zone(
            "sub.example.com.",
            "$ORIGIN sub.example.com.\n$TTL 300\n\
             @ SOA ns1 hostmaster 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.53\n",
        );
        let before = parent(1, "192.0.2.80");
        let base = NameTable::build(&[(&before).into(), (&child).into()], &[]);
        // The SOA changes: the child's apex answers DS (NODATA) with it.
        let after = parent(2, "192.0.2.81");
        let soa = changed(&before, &after);
        assert!(
            base.patched(&[(&after).into(), (&child).into()], 0, &refs(&soa))
                .is_none()
        );
        // Below the apex, the child's answers stay as they were.
        let www_only = parent(1, "192.0.2.81");
        let www = changed(&before, &www_only);
        let zones = [(&www_only).into(), (&child).into()];
        let patched = base
            .patched(&zones, 0, &refs(&www))
            .expect("a name of the parent alone");
        let whole = NameTable::build(&zones, &[]);
        assert_same_answers(&patched, &whole, &[&before, &www_only, &child]);
    }

    #[test]
    fn other_zones_or_too_many_names_are_not_patched() {
        let before = zone("example.com.", BEFORE);
        let other = zone(
            "example.net.",
            "$ORIGIN example.net.\n$TTL 300\n@ SOA ns1 h 1 7200 900 1209600 60\n@ NS ns1\nns1 A 192.0.2.1\n",
        );
        let base = NameTable::build(&[(&before).into()], &[]);
        let after = zone("example.com.", AFTER);
        let changed = changed(&before, &after);
        let zones: [TableZone<'_>; 2] = [(&after).into(), (&other).into()];
        assert!(
            base.patched(&zones, 0, &refs(&changed)).is_none(),
            "a zone more"
        );
        let not_serving = [TableZone {
            data: &after,
            serving: false,
        }];
        assert!(base.patched(&not_serving, 0, &refs(&changed)).is_none());
        let many: Vec<Vec<u8>> = (0..super::max_patched(0) + 1)
            .map(|index| {
                let mut name = vec![b'h'];
                name.extend_from_slice(index.to_string().as_bytes());
                let mut wire = vec![name.len() as u8];
                wire.extend_from_slice(&name);
                wire.extend_from_slice(b"\x07example\x03com\x00");
                wire
            })
            .collect();
        assert!(base.patched(&[(&after).into()], 0, &refs(&many)).is_none());
    }
}
