//! The in-flight table of one socket: which query each outstanding ID stands for
//! and when it was (or was scheduled to be) sent.
//!
//! IDs are handed out in sequence: the query with sequence number `s` gets ID
//! `s mod capacity`, and its entry lives at that index. The table is thus also a
//! ring in send order, so timeouts are found by walking from the oldest sequence
//! number forward: amortized O(1) per query, no scan, no allocation after
//! [`InFlightTable::new`].
//!
//! Each query has two times: when it was sent, from which its timeout runs, and
//! when it was due, from which its latency is measured (the same in closed loop;
//! in open loop a generator behind its schedule sends late, and that lateness
//! belongs in the latency but must not turn the server's timely answers into
//! losses).
//!
//! Invariants:
//!
//! * `oldest <= next_sequence` and `next_sequence - oldest <= capacity`: sequence
//!   numbers in `oldest..next_sequence` own distinct entries, and every entry not
//!   owned by one of them is free;
//! * `outstanding` is the number of entries in use;
//! * an entry in use has `packet != FREE`.

/// Marks a free entry.
const FREE: u32 = u32::MAX;

/// The most IDs a table can use: all 16-bit DNS IDs.
pub const MAX_CAPACITY: usize = 1 << 16;

/// One outstanding query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// Send time, in nanoseconds since the run started.
    sent_at: u64,
    /// Scheduled send time (at most `sent_at`), in nanoseconds since the run
    /// started.
    due_at: u64,
    /// Index of the packet in the packet set, or [`FREE`].
    packet: u32,
}

const FREE_ENTRY: Entry = Entry {
    sent_at: 0,
    due_at: 0,
    packet: FREE,
};

/// A query found by its ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outstanding {
    /// Send time, in nanoseconds since the run started.
    pub sent_at: u64,
    /// Scheduled send time, in nanoseconds since the run started: where its
    /// latency starts.
    pub due_at: u64,
    /// Index of the packet in the packet set.
    pub packet: usize,
}

/// Outstanding queries of one socket, by ID.
#[derive(Debug)]
pub struct InFlightTable {
    entries: Box<[Entry]>,
    /// `capacity - 1`; capacity is a power of two.
    mask: u64,
    /// Sequence number of the next query sent.
    next_sequence: u64,
    /// No entry older than this sequence number is in use.
    oldest: u64,
    outstanding: usize,
}

impl InFlightTable {
    /// A table of `capacity` IDs (a power of two, at most [`MAX_CAPACITY`]).
    ///
    /// # Panics
    ///
    /// When `capacity` is not a power of two or exceeds [`MAX_CAPACITY`].
    pub fn new(capacity: usize) -> InFlightTable {
        assert!(
            capacity.is_power_of_two() && capacity <= MAX_CAPACITY,
            "in-flight table capacity must be a power of two up to 65536"
        );
        InFlightTable {
            entries: vec![FREE_ENTRY; capacity].into_boxed_slice(),
            mask: capacity as u64 - 1,
            next_sequence: 0,
            oldest: 0,
            outstanding: 0,
        }
    }

    /// Queries sent and not yet answered or expired.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// How many queries can be inserted now: IDs not still held by an outstanding
    /// query (call [`expire`](Self::expire) first to release the old ones).
    pub fn room(&self) -> usize {
        self.entries.len() - (self.next_sequence - self.oldest) as usize
    }

    /// Records a query of packet `packet` sent at `sent_at`, due at `due_at`
    /// (`sent_at` or earlier), and returns its ID. Send times must not go
    /// backwards from one insert to the next.
    ///
    /// # Panics
    ///
    /// When [`room`](Self::room) is zero.
    pub fn insert(&mut self, sent_at: u64, due_at: u64, packet: usize) -> u16 {
        assert!(self.room() > 0, "in-flight table full");
        let index = (self.next_sequence & self.mask) as usize;
        debug_assert_eq!(self.entries[index].packet, FREE);
        self.entries[index] = Entry {
            sent_at,
            due_at: due_at.min(sent_at),
            packet: u32::try_from(packet).unwrap_or(FREE - 1),
        };
        self.next_sequence += 1;
        self.outstanding += 1;
        index as u16
    }

    /// Forgets the last `count` inserted queries (the kernel did not take them).
    pub fn unsend(&mut self, count: usize) {
        for _ in 0..count {
            assert!(self.next_sequence > self.oldest, "nothing to unsend");
            self.next_sequence -= 1;
            let index = (self.next_sequence & self.mask) as usize;
            if self.entries[index].packet != FREE {
                self.entries[index] = FREE_ENTRY;
                self.outstanding -= 1;
            }
        }
    }

    /// The outstanding query with ID `id`, if any.
    pub fn get(&self, id: u16) -> Option<Outstanding> {
        let entry = *self.entries.get(usize::from(id))?;
        (entry.packet != FREE).then_some(Outstanding {
            sent_at: entry.sent_at,
            due_at: entry.due_at,
            packet: entry.packet as usize,
        })
    }

    /// Marks the query with ID `id` answered (it must be outstanding).
    pub fn remove(&mut self, id: u16) {
        let entry = &mut self.entries[usize::from(id)];
        debug_assert_ne!(entry.packet, FREE);
        if entry.packet != FREE {
            *entry = FREE_ENTRY;
            self.outstanding -= 1;
        }
    }

    /// Frees every query sent before `sent_before` (the send time before which a
    /// query has timed out: now minus the timeout, or 0 early in the run) and
    /// returns how many there were. Also releases the IDs of answered queries at
    /// the old end of the ring, whatever `sent_before` is.
    pub fn expire(&mut self, sent_before: u64) -> u64 {
        let mut lost = 0;
        while self.oldest < self.next_sequence {
            let index = (self.oldest & self.mask) as usize;
            let entry = &mut self.entries[index];
            if entry.packet != FREE {
                if entry.sent_at >= sent_before {
                    break;
                }
                *entry = FREE_ENTRY;
                self.outstanding -= 1;
                lost += 1;
            }
            self.oldest += 1;
        }
        lost
    }

    /// Send time of the oldest outstanding query, after [`expire`](Self::expire)
    /// has released the answered ones in front of it.
    pub fn oldest_sent_at(&self) -> Option<u64> {
        if self.oldest == self.next_sequence {
            return None;
        }
        let entry = self.entries[(self.oldest & self.mask) as usize];
        (entry.packet != FREE).then_some(entry.sent_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_then_match_by_id() {
        let mut table = InFlightTable::new(MAX_CAPACITY);
        let first = table.insert(100, 100, 7);
        let second = table.insert(200, 200, 8);
        assert_ne!(first, second);
        assert_eq!(table.outstanding(), 2);
        assert_eq!(
            table.get(second),
            Some(Outstanding {
                sent_at: 200,
                due_at: 200,
                packet: 8
            })
        );
        table.remove(second);
        assert_eq!(table.get(second), None, "answered twice is unknown");
        assert_eq!(table.outstanding(), 1);
        assert_eq!(table.get(first).unwrap().packet, 7);
    }

    #[test]
    fn unknown_id_is_none() {
        let mut table = InFlightTable::new(16);
        assert_eq!(table.get(3), None);
        table.insert(1, 1, 0);
        assert_eq!(table.get(1), None);
        assert_eq!(table.get(0xffff), None, "beyond the capacity");
    }

    #[test]
    fn timeout_frees_only_old_queries() {
        let mut table = InFlightTable::new(16);
        let old = table.insert(1_000, 1_000, 0);
        let answered = table.insert(2_000, 2_000, 1);
        let young = table.insert(9_000, 9_000, 2);
        table.remove(answered);
        assert_eq!(
            table.expire(5_000),
            1,
            "only the first is older than the deadline"
        );
        assert_eq!(table.get(old), None);
        assert_eq!(table.get(young).unwrap().sent_at, 9_000);
        assert_eq!(table.outstanding(), 1);
        assert_eq!(table.oldest_sent_at(), Some(9_000));
        assert_eq!(table.expire(u64::MAX), 1);
        assert_eq!(table.outstanding(), 0);
        assert_eq!(table.oldest_sent_at(), None);
    }

    #[test]
    fn ids_are_reused_only_after_release() {
        let mut table = InFlightTable::new(4);
        let ids: Vec<u16> = (0..4).map(|index| table.insert(index, index, 0)).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        assert_eq!(table.room(), 0);
        // Answering a later one does not free room: the oldest still holds its ID.
        table.remove(2);
        assert_eq!(table.expire(0), 0, "nothing is sent before 0");
        assert_eq!(table.expire(1), 1, "query 0, sent at 0, timed out");
        assert_eq!(table.room(), 1);
        assert_eq!(table.insert(5, 5, 0), 0, "ID 0 is handed out again");
        assert_eq!(table.get(2), None);
    }

    #[test]
    fn room_comes_back_as_the_oldest_are_answered_or_expire() {
        let mut table = InFlightTable::new(4);
        for index in 0..4 {
            table.insert(10 + index, 10 + index, 0);
        }
        table.remove(1);
        assert_eq!(table.expire(5), 0);
        assert_eq!(table.room(), 0, "ID 0 is still outstanding");
        table.remove(0);
        assert_eq!(table.expire(5), 0);
        assert_eq!(table.room(), 2, "IDs 0 and 1 are free again");
        assert_eq!(table.insert(20, 20, 1), 0, "the ring wraps");
        assert_eq!(table.expire(12), 0, "ID 2 was sent at 12, not before");
        assert_eq!(table.expire(13), 1, "ID 2 (sent at 12) timed out");
        assert_eq!(table.room(), 2);
    }

    #[test]
    fn answered_ids_are_released_before_any_timeout() {
        // Early in a run (now < timeout) nothing can have timed out, but the IDs
        // of answered queries must come back all the same.
        let mut table = InFlightTable::new(4);
        for round in 0..3u16 {
            for index in 0..4 {
                assert_eq!(table.insert(0, 0, 0), index);
            }
            assert_eq!(table.room(), 0);
            for id in 0..4 {
                table.remove(id);
            }
            assert_eq!(table.expire(0), 0);
            assert_eq!(table.room(), 4, "round {round}");
        }
    }

    #[test]
    fn unsend_forgets_the_last_inserts() {
        let mut table = InFlightTable::new(8);
        table.insert(1, 1, 0);
        let second = table.insert(1, 1, 1);
        table.insert(1, 1, 2);
        table.unsend(2);
        assert_eq!(table.outstanding(), 1);
        assert_eq!(table.get(second), None);
        assert_eq!(table.insert(2, 2, 5), second, "the ID is handed out again");
    }

    #[test]
    fn a_late_send_times_out_from_its_send_and_keeps_its_due_time() {
        let mut table = InFlightTable::new(8);
        let late = table.insert(5_000, 1_000, 3);
        assert_eq!(
            table.get(late),
            Some(Outstanding {
                sent_at: 5_000,
                due_at: 1_000,
                packet: 3
            })
        );
        assert_eq!(table.expire(2_000), 0, "due long ago, but sent at 5000");
        assert_eq!(table.oldest_sent_at(), Some(5_000));
        assert_eq!(table.expire(5_001), 1);
        let early = table.insert(6_000, 7_000, 0);
        assert_eq!(
            table.get(early).unwrap().due_at,
            6_000,
            "never due after its send"
        );
    }
}
