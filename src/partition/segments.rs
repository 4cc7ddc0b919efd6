//! The segment set of a partition (Kafka's `LogSegments`): its segments in base-offset order,
//! never empty, the last one active. Held only to read or change the list, never across I/O.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::segment::Segment;

pub(super) struct SegmentSet {
    list: RwLock<Vec<Arc<Segment>>>,
}

impl SegmentSet {
    /// `segments` in base-offset order; at least one.
    pub(super) fn new(segments: Vec<Arc<Segment>>) -> SegmentSet {
        assert!(!segments.is_empty(), "a partition always has an active segment");
        SegmentSet { list: RwLock::new(segments) }
    }

    /// The segments now, oldest first.
    pub(super) fn snapshot(&self) -> Vec<Arc<Segment>> {
        self.list.read().clone()
    }

    /// The active segment: the last one.
    pub(super) fn active(&self) -> Arc<Segment> {
        self.list.read().last().expect("never empty").clone()
    }

    /// The segment holding `offset` (the last one whose base offset is ≤ it, or the first), and
    /// the base offset of the one after it.
    pub(super) fn holding(&self, offset: u64) -> (Arc<Segment>, Option<u64>) {
        let list = self.list.read();
        let i = list.partition_point(|s| s.base_offset() <= offset).saturating_sub(1);
        (list[i].clone(), list.get(i + 1).map(|s| s.base_offset()))
    }

    /// Total bytes of the data files.
    pub(super) fn total_size(&self) -> u64 {
        self.list.read().iter().fold(0, |total, s| total.saturating_add(s.size()))
    }

    /// Replaces the whole list (a read-only partition's refresh); `segments` is not empty.
    pub(super) fn replace_all(&self, segments: Vec<Arc<Segment>>) {
        assert!(!segments.is_empty(), "a partition always has an active segment");
        *self.list.write() = segments;
    }

    /// Adds a new active segment.
    pub(super) fn push(&self, segment: Arc<Segment>) {
        self.list.write().push(segment);
    }

    /// Replaces `old` by `new`; false (and nothing changes) if `old` is no longer in the set.
    pub(super) fn replace(&self, old: &Arc<Segment>, new: Arc<Segment>) -> bool {
        let mut list = self.list.write();
        match list.iter().position(|s| Arc::ptr_eq(s, old)) {
            Some(i) => {
                list[i] = new;
                true
            }
            None => false,
        }
    }

    /// Removes `old`, unless it is the only segment or no longer in the set; whether it did.
    pub(super) fn remove(&self, old: &Arc<Segment>) -> bool {
        let mut list = self.list.write();
        match list.iter().position(|s| Arc::ptr_eq(s, old)) {
            Some(i) if list.len() > 1 => {
                list.remove(i);
                true
            }
            _ => false,
        }
    }

    /// Replaces `old` by `new` and removes every segment after it; returns those. Nothing changes
    /// (and nothing is returned) if `old` is no longer in the set.
    pub(super) fn replace_and_cut_after(&self, old: &Arc<Segment>, new: Arc<Segment>) -> Option<Vec<Arc<Segment>>> {
        let mut list = self.list.write();
        let i = list.iter().position(|s| Arc::ptr_eq(s, old))?;
        list[i] = new;
        Some(list.drain(i + 1..).collect())
    }

    /// Removes the first `n` segments, at least one staying; returns them.
    pub(super) fn remove_first(&self, n: usize) -> Vec<Arc<Segment>> {
        let mut list = self.list.write();
        let n = n.min(list.len() - 1);
        list.drain(..n).collect()
    }
}
