//! Client topology: which region a client address belongs to, by longest
//! prefix match over IPv4 and IPv6 networks.
//!
//! [`Topology::build`] runs off the fast path. It flattens the configured
//! networks (500,000 or more) into one table per address family of sorted,
//! non-overlapping intervals that together cover the whole address space:
//! where networks nest, the most specific one wins, and the space outside
//! every network maps to the default region. A lookup is then one binary
//! search, narrowed first (when the table is large) by a 65,536-entry index
//! on the 16 address bits after those that every network shares (none for a
//! world-wide IPv4 table; 3 for IPv6 in 2000::/3): O(log n), no scan, no
//! allocation.
//!
//! The ECS scope a lookup returns is the length of the largest prefix around
//! the address that lies inside the address's interval, so every address of
//! that prefix gets the same answer: for an address in a network with no
//! more specific network inside it, exactly the network's length; for an
//! address in a network around a more specific one (a /24 inside a /16),
//! the longer length that leaves the inner network out (otherwise a resolver
//! would cache the /16's answer for the /24's clients too); for an address in
//! no network, the largest block around it that holds no network.
//!
//! Invariants of each table: the first interval starts at the family's
//! first address, starts are strictly increasing, and the index (when
//! present) has `2^16 + 1` entries with `index[t]` the first interval whose
//! start lies in the indexed block with index bits of at least `t`. Host bits set in a configured
//! network are ignored. When the same network is given twice, the later one
//! wins.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::RegionId;

/// Tables with more intervals than this get the top-bits index.
const INDEX_THRESHOLD: usize = 256;
/// How many top address bits the index covers.
const INDEX_BITS: u32 = 16;
/// Entries in the index: one per top-bits value, plus the end.
const INDEX_LEN: usize = (1 << INDEX_BITS) + 1;

/// An address of one family as an unsigned integer (`u32` for IPv4, `u128`
/// for IPv6).
trait AddressBits: Copy + Ord + fmt::Debug {
    /// Bits in an address.
    const BITS: u32;
    /// The family's first address.
    const ZERO: Self;
    /// Leading bits `self` and `other` share.
    fn common_prefix_len(self, other: Self) -> u32;
    /// The first address of the `prefix_len` prefix holding `self`.
    fn network_start(self, prefix_len: u8) -> Self;
    /// The last address of the `prefix_len` prefix holding `self`.
    fn network_end(self, prefix_len: u8) -> Self;
    /// The next address, `None` after the last.
    fn successor(self) -> Option<Self>;
    /// The previous address, `None` before the first.
    fn predecessor(self) -> Option<Self>;
    /// The [`INDEX_BITS`] bits after the first `skip`, as an index.
    fn bits_after(self, skip: u32) -> usize;
}

macro_rules! address_bits {
    ($integer:ty) => {
        impl AddressBits for $integer {
            const BITS: u32 = <$integer>::BITS;
            const ZERO: Self = 0;

            #[inline]
            fn common_prefix_len(self, other: Self) -> u32 {
                (self ^ other).leading_zeros()
            }

            #[inline]
            fn network_start(self, prefix_len: u8) -> Self {
                match u32::from(prefix_len) {
                    0 => 0,
                    length if length >= <$integer>::BITS => self,
                    length => self & (<$integer>::MAX << (<$integer>::BITS - length)),
                }
            }

            #[inline]
            fn network_end(self, prefix_len: u8) -> Self {
                match u32::from(prefix_len) {
                    0 => <$integer>::MAX,
                    length if length >= <$integer>::BITS => self,
                    length => self | (<$integer>::MAX >> length),
                }
            }

            #[inline]
            fn successor(self) -> Option<Self> {
                self.checked_add(1)
            }

            #[inline]
            fn predecessor(self) -> Option<Self> {
                self.checked_sub(1)
            }

            #[inline]
            fn bits_after(self, skip: u32) -> usize {
                (self.checked_shl(skip).unwrap_or(0) >> (<$integer>::BITS - INDEX_BITS)) as usize
            }
        }
    };
}

address_bits!(u32);
address_bits!(u128);

/// A configured network of one family, ready to flatten.
#[derive(Clone, Copy, Debug)]
struct Network<A> {
    start: A,
    end: A,
    prefix_len: u8,
    region: RegionId,
}

/// One interval of the flattened table: from `start` to the next
/// interval's start (exclusive), or to the family's last address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interval<A> {
    start: A,
    /// The region (the default region for the space outside every network).
    region: Option<RegionId>,
}

/// The flattened table of one address family.
#[derive(Clone)]
struct IntervalTable<A> {
    /// Strictly increasing starts from zero. Start and region side by side,
    /// so a lookup reads one cache line for both.
    intervals: Vec<Interval<A>>,
    /// Empty, or [`INDEX_LEN`] entries: `index[t]` is the first interval
    /// whose start lies inside the indexed block with index bits of at least
    /// `t`.
    index: Vec<u32>,
    /// The indexed block: the addresses sharing their first `index_skip`
    /// bits with `index_base` (the smallest block holding every start but
    /// the first, so that IPv6 tables, all in 2000::/3, use the whole index).
    index_base: A,
    /// Leading bits the indexed block fixes; the index covers the
    /// [`INDEX_BITS`] bits after them.
    index_skip: u32,
}

impl<A: AddressBits> IntervalTable<A> {
    /// Flattens `networks` (any order, nested or not) into intervals.
    fn build(mut networks: Vec<Network<A>>, default_region: Option<RegionId>) -> Self {
        // Outer networks before the networks nested in them; the sort is
        // stable, so of two equal networks the later stays later and wins.
        networks.sort_by(|left, right| {
            (left.start, left.prefix_len).cmp(&(right.start, right.prefix_len))
        });
        let mut table = IntervalTable {
            intervals: Vec::with_capacity(networks.len() * 2 + 1),
            index: Vec::new(),
            index_base: A::ZERO,
            index_skip: 0,
        };
        // The first address not yet given an interval; `None` once the whole
        // family is covered.
        let mut cursor = Some(A::ZERO);
        // The networks around the current one, innermost last. CIDR networks
        // either nest or are disjoint, so this is a proper nesting.
        let mut open: Vec<Network<A>> = Vec::new();
        for network in &networks {
            while let Some(innermost) = open.last().copied() {
                if innermost.end >= network.start {
                    break;
                }
                table.close(&mut cursor, innermost);
                open.pop();
            }
            if let Some(first_free) = cursor
                && first_free < network.start
            {
                let around = open
                    .last()
                    .map_or(default_region, |outer| Some(outer.region));
                table.push(first_free, around);
            }
            cursor = Some(network.start);
            open.push(*network);
        }
        while let Some(innermost) = open.pop() {
            table.close(&mut cursor, innermost);
        }
        if let Some(first_free) = cursor {
            table.push(first_free, default_region);
        }
        table.build_index();
        table
    }

    /// Gives the rest of `network` (from `cursor` to its end) its region.
    fn close(&mut self, cursor: &mut Option<A>, network: Network<A>) {
        if let Some(first_free) = *cursor
            && first_free <= network.end
        {
            self.push(first_free, Some(network.region));
            *cursor = network.end.successor();
        }
    }

    fn push(&mut self, start: A, region: Option<RegionId>) {
        self.intervals.push(Interval { start, region });
    }

    fn build_index(&mut self) {
        let (Some(second), Some(last)) = (self.intervals.get(1), self.intervals.last()) else {
            return;
        };
        if self.intervals.len() <= INDEX_THRESHOLD {
            return;
        }
        self.index_base = second.start;
        self.index_skip = second
            .start
            .common_prefix_len(last.start)
            .min(A::BITS - INDEX_BITS);
        self.index = Vec::with_capacity(INDEX_LEN);
        let mut interval = 0;
        for bucket in 0..INDEX_LEN {
            // Starts below the block (only the first can be) count as below
            // every bucket.
            while self
                .intervals
                .get(interval)
                .is_some_and(|entry| self.bucket(entry.start).is_none_or(|other| other < bucket))
            {
                interval += 1;
            }
            self.index.push(interval as u32);
        }
    }

    /// The index bucket of `address`, or `None` outside the indexed block.
    #[inline]
    fn bucket(&self, address: A) -> Option<usize> {
        if address.common_prefix_len(self.index_base) < self.index_skip {
            return None;
        }
        Some(address.bits_after(self.index_skip))
    }

    /// The region of `address` and the length of the largest prefix around
    /// it inside its interval.
    #[inline]
    fn lookup(&self, address: A) -> (Option<RegionId>, u8) {
        // Inside the indexed block, only the intervals starting in the
        // address's bucket are searched (the answer is the last of them at or
        // below the address, or the one before them); outside it (no index,
        // or an address in the gaps around every network) the whole table.
        let bucket = if self.index.is_empty() {
            None
        } else {
            self.bucket(address)
        };
        let (low, high) = match bucket
            .and_then(|bucket| Some((*self.index.get(bucket)?, *self.index.get(bucket + 1)?)))
        {
            Some((low, high)) => (low as usize, high as usize),
            None => (0, self.intervals.len()),
        };
        let window = self.intervals.get(low..high).unwrap_or(&[]);
        let position =
            (low + window.partition_point(|entry| entry.start <= address)).saturating_sub(1);
        let Some(&Interval { start, region }) = self.intervals.get(position) else {
            return (None, 0);
        };
        // The prefix must leave out the address just before the interval and
        // the first address after it: longer than the prefix it shares with
        // either.
        let below = start
            .predecessor()
            .map_or(0, |before| before.common_prefix_len(address) + 1);
        let above = self
            .intervals
            .get(position + 1)
            .map_or(0, |after| after.start.common_prefix_len(address) + 1);
        (region, below.max(above).min(A::BITS) as u8)
    }
}

/// Longest-prefix match from client address to region, over IPv4 and IPv6.
/// Immutable once built; lookups neither allocate nor lock.
#[derive(Clone)]
pub struct Topology {
    v4: IntervalTable<u32>,
    v6: IntervalTable<u128>,
    /// How many networks it was built from.
    networks: usize,
}

impl Topology {
    /// A topology with no network and no default region: every lookup
    /// answers `(None, 0)`.
    pub fn empty() -> Topology {
        Topology::build(&[], None)
    }

    /// Flattens `(network, region)` pairs into lookup tables; addresses in no
    /// network belong to `default_region`. Off the fast path: O(n log n).
    pub fn build(networks: &[(IpNet, RegionId)], default_region: Option<RegionId>) -> Topology {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for &(network, region) in networks {
            match network {
                IpNet::V4(network) => {
                    let prefix_len = network.prefix_len();
                    let bits = u32::from(network.addr());
                    v4.push(Network {
                        start: bits.network_start(prefix_len),
                        end: bits.network_end(prefix_len),
                        prefix_len,
                        region,
                    });
                }
                IpNet::V6(network) => {
                    let prefix_len = network.prefix_len();
                    let bits = u128::from(network.addr());
                    v6.push(Network {
                        start: bits.network_start(prefix_len),
                        end: bits.network_end(prefix_len),
                        prefix_len,
                        region,
                    });
                }
            }
        }
        Topology {
            v4: IntervalTable::build(v4, default_region),
            v6: IntervalTable::build(v6, default_region),
            networks: networks.len(),
        }
    }

    /// The region for `address` and the ECS scope prefix length that decided
    /// it: the matched network's length (longer where a more specific
    /// network sits inside the matched one, so the scope leaves it out);
    /// when no network matches, the default region (`None` if not set) with
    /// the length of the largest prefix around `address` that contains no
    /// configured network. IPv4-mapped IPv6 addresses are looked up as IPv6;
    /// canonicalize them first if they should count as IPv4.
    #[inline]
    pub fn lookup(&self, address: IpAddr) -> (Option<RegionId>, u8) {
        match address {
            IpAddr::V4(address) => self.v4.lookup(u32::from(address)),
            IpAddr::V6(address) => self.v6.lookup(u128::from(address)),
        }
    }

    /// How many networks the topology was built from.
    pub fn len(&self) -> usize {
        self.networks
    }

    /// Whether it was built from no network.
    pub fn is_empty(&self) -> bool {
        self.networks == 0
    }
}

impl Default for Topology {
    fn default() -> Topology {
        Topology::empty()
    }
}

impl fmt::Debug for Topology {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Topology")
            .field("networks", &self.networks)
            .field("v4_intervals", &self.v4.intervals.len())
            .field("v6_intervals", &self.v6.intervals.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use ipnet::{Ipv4Net, Ipv6Net};

    use super::super::WorkerState;
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().expect("test network parses")
    }

    fn address(text: &str) -> IpAddr {
        text.parse().expect("test address parses")
    }

    fn check_table_invariants<A: AddressBits>(table: &IntervalTable<A>) {
        assert_eq!(
            table.intervals.first().map(|entry| entry.start),
            Some(A::ZERO)
        );
        assert!(
            table
                .intervals
                .windows(2)
                .all(|pair| pair[0].start < pair[1].start)
        );
        if !table.index.is_empty() {
            assert_eq!(table.index.len(), INDEX_LEN);
            assert_eq!(table.index.last(), Some(&(table.intervals.len() as u32)));
        }
    }

    #[test]
    fn empty_topology_has_no_region() {
        let topology = Topology::empty();
        assert!(topology.is_empty());
        assert_eq!(topology.lookup(address("192.0.2.1")), (None, 0));
        assert_eq!(topology.lookup(address("2001:db8::1")), (None, 0));
        let defaulted = Topology::build(&[], Some(4));
        assert_eq!(defaulted.lookup(address("192.0.2.1")), (Some(4), 0));
        assert_eq!(defaulted.lookup(address("::")), (Some(4), 0));
    }

    #[test]
    fn longest_match_wins_and_scope_leaves_out_nested_networks() {
        let topology =
            Topology::build(&[(net("10.1.2.0/24"), 2), (net("10.1.0.0/16"), 1)], Some(9));
        check_table_invariants(&topology.v4);
        assert_eq!(topology.len(), 2);
        // Inside the /24.
        assert_eq!(topology.lookup(address("10.1.2.0")), (Some(2), 24));
        assert_eq!(topology.lookup(address("10.1.2.77")), (Some(2), 24));
        assert_eq!(topology.lookup(address("10.1.2.255")), (Some(2), 24));
        // In the /16 next to the /24: 10.1.3.0/24 and 10.1.0.0/23 are the
        // largest blocks that leave 10.1.2.0/24 out.
        assert_eq!(topology.lookup(address("10.1.3.1")), (Some(1), 24));
        assert_eq!(topology.lookup(address("10.1.1.1")), (Some(1), 23));
        // Far from the /24: 10.1.128.0/17.
        assert_eq!(topology.lookup(address("10.1.200.1")), (Some(1), 17));
        assert_eq!(topology.lookup(address("10.1.255.255")), (Some(1), 17));
        // Outside both: the default region and the largest empty block.
        assert_eq!(topology.lookup(address("10.2.0.1")), (Some(9), 15));
        assert_eq!(topology.lookup(address("11.0.0.1")), (Some(9), 8));
        assert_eq!(topology.lookup(address("192.168.1.1")), (Some(9), 1));
        assert_eq!(topology.lookup(address("0.0.0.0")), (Some(9), 5));
    }

    #[test]
    fn network_without_nesting_scopes_to_its_own_length() {
        let topology = Topology::build(
            &[
                (net("192.0.2.0/24"), 1),
                (net("198.51.100.0/22"), 2),
                (net("203.0.113.7/32"), 3),
            ],
            None,
        );
        assert_eq!(topology.lookup(address("192.0.2.9")), (Some(1), 24));
        assert_eq!(topology.lookup(address("198.51.101.9")), (Some(2), 22));
        assert_eq!(topology.lookup(address("203.0.113.7")), (Some(3), 32));
        assert_eq!(topology.lookup(address("203.0.113.6")), (None, 32));
        assert_eq!(topology.lookup(address("203.0.113.8")), (None, 29));
    }

    #[test]
    fn whole_space_and_edges() {
        let topology = Topology::build(
            &[
                (net("0.0.0.0/0"), 1),
                (net("255.255.255.255/32"), 2),
                (net("0.0.0.0/32"), 3),
                (net("::/0"), 4),
                (net("ffff::/16"), 5),
            ],
            None,
        );
        check_table_invariants(&topology.v4);
        check_table_invariants(&topology.v6);
        assert_eq!(topology.lookup(address("0.0.0.0")), (Some(3), 32));
        assert_eq!(topology.lookup(address("0.0.0.1")), (Some(1), 32));
        assert_eq!(topology.lookup(address("128.0.0.0")), (Some(1), 2));
        assert_eq!(topology.lookup(address("255.255.255.255")), (Some(2), 32));
        assert_eq!(topology.lookup(address("255.255.255.254")), (Some(1), 32));
        assert_eq!(topology.lookup(address("::1")), (Some(4), 1));
        assert_eq!(topology.lookup(address("ffff::1")), (Some(5), 16));
        assert_eq!(topology.lookup(address("fffe::1")), (Some(4), 16));
    }

    #[test]
    fn host_bits_are_ignored_and_later_duplicate_wins() {
        let topology = Topology::build(
            &[
                (
                    IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, 0, 0, 77), 8).expect("valid")),
                    1,
                ),
                (net("10.0.0.0/8"), 2),
            ],
            None,
        );
        check_table_invariants(&topology.v4);
        assert_eq!(topology.lookup(address("10.200.0.1")), (Some(2), 8));
        assert_eq!(topology.lookup(address("9.255.255.255")), (None, 7));
    }

    #[test]
    fn v6_longest_match() {
        let topology = Topology::build(
            &[
                (net("2001:db8::/32"), 1),
                (net("2001:db8:1::/48"), 2),
                (net("10.0.0.0/8"), 3),
            ],
            None,
        );
        check_table_invariants(&topology.v6);
        assert_eq!(topology.lookup(address("2001:db8:1::1")), (Some(2), 48));
        assert_eq!(topology.lookup(address("2001:db8:2::1")), (Some(1), 47));
        assert_eq!(topology.lookup(address("2001:db8:8000::1")), (Some(1), 33));
        assert_eq!(topology.lookup(address("2001:db9::1")), (None, 32));
        // The IPv4 network does not leak into IPv6 and the reverse.
        assert_eq!(topology.lookup(address("::a00:1")).0, None);
        assert_eq!(topology.lookup(address("32.1.13.184")).0, None);
    }

    /// Brute force: the last longest network holding `address`, and the
    /// scope: longer than the prefix `address` shares with every more
    /// specific network (so the scope leaves it out), and at least the
    /// matched network's length.
    fn brute_force<A: AddressBits>(
        networks: &[Network<A>],
        default_region: Option<RegionId>,
        address: A,
    ) -> (Option<RegionId>, u8) {
        let mut best: Option<&Network<A>> = None;
        for network in networks {
            if network.start <= address
                && address <= network.end
                && best.is_none_or(|best| network.prefix_len >= best.prefix_len)
            {
                best = Some(network);
            }
        }
        let (region, matched_len) = match best {
            Some(network) => (Some(network.region), i32::from(network.prefix_len)),
            None => (default_region, -1),
        };
        let mut scope = matched_len.max(0);
        for network in networks {
            if i32::from(network.prefix_len) > matched_len {
                let shared = network
                    .start
                    .common_prefix_len(address)
                    .min(u32::from(network.prefix_len)) as i32;
                scope = scope.max(shared + 1);
            }
        }
        (region, scope as u8)
    }

    fn random_v4_networks(count: usize, worker: &mut WorkerState) -> Vec<Network<u32>> {
        (0..count)
            .map(|_| {
                let prefix_len = 8 + worker.next_below(25) as u8;
                let bits = worker.next_u64() as u32;
                Network {
                    start: bits.network_start(prefix_len),
                    end: bits.network_end(prefix_len),
                    prefix_len,
                    region: worker.next_below(16) as RegionId,
                }
            })
            .collect()
    }

    fn random_v6_networks(count: usize, worker: &mut WorkerState) -> Vec<Network<u128>> {
        (0..count)
            .map(|_| {
                // Four /20s hold everything, so networks nest often.
                let prefix_len = 20 + worker.next_below(45) as u8;
                let top = 0x20010_u128 + worker.next_below(4) as u128;
                let bits = (top << 108)
                    | ((u128::from(worker.next_u64()) << 64 | u128::from(worker.next_u64())) >> 20);
                Network {
                    start: bits.network_start(prefix_len),
                    end: bits.network_end(prefix_len),
                    prefix_len,
                    region: worker.next_below(16) as RegionId,
                }
            })
            .collect()
    }

    /// Half the addresses uniformly random, half inside a random network.
    fn random_addresses<A: AddressBits>(
        networks: &[Network<A>],
        count: usize,
        worker: &mut WorkerState,
        random_address: impl Fn(&mut WorkerState) -> A,
        within: impl Fn(Network<A>, A) -> A,
    ) -> Vec<A> {
        (0..count)
            .map(|turn| {
                let random = random_address(worker);
                if turn % 2 == 0 || networks.is_empty() {
                    random
                } else {
                    within(networks[worker.next_below(networks.len())], random)
                }
            })
            .collect()
    }

    fn to_ip_networks_v4(networks: &[Network<u32>]) -> Vec<(IpNet, RegionId)> {
        networks
            .iter()
            .map(|network| {
                let net = Ipv4Net::new(Ipv4Addr::from(network.start), network.prefix_len)
                    .expect("valid prefix length");
                (IpNet::V4(net), network.region)
            })
            .collect()
    }

    fn to_ip_networks_v6(networks: &[Network<u128>]) -> Vec<(IpNet, RegionId)> {
        networks
            .iter()
            .map(|network| {
                let net = Ipv6Net::new(Ipv6Addr::from(network.start), network.prefix_len)
                    .expect("valid prefix length");
                (IpNet::V6(net), network.region)
            })
            .collect()
    }

    fn check_v4_against_brute_force(network_count: usize, address_count: usize, seed: u64) {
        let mut worker = WorkerState::new(seed);
        let networks = random_v4_networks(network_count, &mut worker);
        let default_region = Some(99);
        let topology = Topology::build(&to_ip_networks_v4(&networks), default_region);
        check_table_invariants(&topology.v4);
        assert_eq!(topology.len(), network_count);
        let addresses = random_addresses(
            &networks,
            address_count,
            &mut worker,
            |worker| worker.next_u64() as u32,
            |network, random| {
                network.start | (random & !u32::MAX.network_start(network.prefix_len))
            },
        );
        for bits in addresses {
            assert_eq!(
                topology.lookup(IpAddr::V4(Ipv4Addr::from(bits))),
                brute_force(&networks, default_region, bits),
                "address {}",
                Ipv4Addr::from(bits)
            );
        }
    }

    fn check_v6_against_brute_force(network_count: usize, address_count: usize, seed: u64) {
        let mut worker = WorkerState::new(seed);
        let networks = random_v6_networks(network_count, &mut worker);
        let topology = Topology::build(&to_ip_networks_v6(&networks), None);
        check_table_invariants(&topology.v6);
        if !topology.v6.index.is_empty() {
            // Everything is in 2001::/16 (and 2001:4:: for a fifth of the
            // addresses lies outside the indexed block).
            assert!(topology.v6.index_skip >= 16, "{}", topology.v6.index_skip);
        }
        let addresses = random_addresses(
            &networks,
            address_count,
            &mut worker,
            |worker| {
                let top = 0x20010_u128 + worker.next_below(5) as u128;
                let low = u128::from(worker.next_u64()) << 64 | u128::from(worker.next_u64());
                (top << 108) | (low >> 20)
            },
            |network, random| {
                network.start | (random & !u128::MAX.network_start(network.prefix_len))
            },
        );
        for bits in addresses {
            assert_eq!(
                topology.lookup(IpAddr::V6(Ipv6Addr::from(bits))),
                brute_force(&networks, None, bits),
                "address {}",
                Ipv6Addr::from(bits)
            );
        }
    }

    #[test]
    fn v4_small_table_matches_brute_force() {
        // Few enough intervals to go without the index.
        check_v4_against_brute_force(60, 3_000, 1);
    }

    #[test]
    fn v4_100k_random_prefixes_match_brute_force() {
        check_v4_against_brute_force(100_000, 1_000, 2);
    }

    #[test]
    fn v6_small_table_matches_brute_force() {
        check_v6_against_brute_force(60, 3_000, 3);
    }

    #[test]
    fn v6_100k_random_prefixes_match_brute_force() {
        check_v6_against_brute_force(100_000, 1_000, 4);
    }
}
