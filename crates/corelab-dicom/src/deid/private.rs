//! Private attributes: removed, except those PS3.15 Table E.3.10-1 (plus a trial's own reviewed
//! additions) lists as safe, when the Retain Safe Private option is selected.
//!
//! A private data element (gggg,xxee) belongs to the block reserved by the Private Creator element
//! (gggg,00xx) of the same data set; the safe list names elements by creator, group and `ee`, so
//! the creator is resolved level by level. A creator element is kept only when an element of its
//! block is. A trial may also name creators whose blocks it needs (`keep_private`): an object whose
//! block of such a creator holds an element that is not on the safe list is refused, because its
//! de-identification cannot be guaranteed; passing it with the element removed would silently
//! break what the trial asked for, and passing it whole would pass unreviewed data.

use corelab_core::SafePrivateSpec;
use dicom_core::header::Header;
use dicom_core::{Tag, VR};
use dicom_object::InMemDicomObject;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

const TABLE_TSV: &str = include_str!("../../data/ps3.15-table-e.3.10-1.tsv");

/// The safe private attributes: (creator, group, element low byte) → VR where the table gives one.
#[derive(Clone, Debug, Default)]
pub struct SafePrivateList {
    entries: HashMap<(String, u16, u8), Option<VR>>,
}

impl SafePrivateList {
    /// PS3.15 Table E.3.10-1.
    pub fn standard() -> &'static SafePrivateList {
        static TABLE: OnceLock<SafePrivateList> = OnceLock::new();
        TABLE.get_or_init(|| {
            let mut entries = HashMap::new();
            for line in TABLE_TSV.lines().filter(|l| !l.starts_with('#')).skip(1) {
                let cells: Vec<&str> = line.split('\t').collect();
                let (Some(creator), Some(g), Some(e), Some(vr)) =
                    (cells.first(), cells.get(1), cells.get(2), cells.get(3))
                else {
                    continue;
                };
                let (Ok(group), Ok(element)) =
                    (u16::from_str_radix(g, 16), u8::from_str_radix(e, 16))
                else {
                    continue;
                };
                entries.insert(
                    (creator.trim().to_owned(), group, element),
                    vr.parse::<VR>().ok(),
                );
            }
            SafePrivateList { entries }
        })
    }

    /// The standard list plus a trial's reviewed additions.
    pub fn with_additions(additions: &[SafePrivateSpec]) -> SafePrivateList {
        let mut list = Self::standard().clone();
        for a in additions {
            list.entries.insert(
                (a.creator.trim().to_owned(), a.tag.group, a.tag.element),
                None,
            );
        }
        list
    }

    /// How many entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether (creator, group, element low byte) is listed.
    pub fn contains(&self, creator: &str, group: u16, element: u8) -> bool {
        self.entries
            .contains_key(&(creator.trim().to_owned(), group, element))
    }
}

/// What is done with private attributes.
#[derive(Clone, Debug)]
pub struct PrivatePolicy {
    /// The Retain Safe Private option is selected.
    pub retain_safe: bool,
    /// The safe list in effect.
    pub safe: Arc<SafePrivateList>,
    /// Creators whose blocks the trial needs kept.
    pub keep: BTreeSet<String>,
}

impl Default for PrivatePolicy {
    fn default() -> Self {
        Self {
            retain_safe: false,
            safe: Arc::new(SafePrivateList::standard().clone()),
            keep: BTreeSet::new(),
        }
    }
}

/// What happens to one private element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivateDecision {
    /// Kept (on the safe list, with Retain Safe Private).
    Keep,
    /// Removed.
    Remove,
    /// The object must be refused: the reason.
    Refuse(String),
}

/// The private creators of one data set: (group, block) → creator.
pub fn creators(obj: &InMemDicomObject) -> HashMap<(u16, u8), String> {
    obj.iter()
        .filter(|e| {
            let t = e.tag();
            t.group() % 2 == 1 && (0x0010..=0x00FF).contains(&t.element())
        })
        .filter_map(|e| {
            let name = e
                .value()
                .to_str()
                .ok()?
                .trim_matches(['\0', ' '])
                .to_owned();
            Some(((e.tag().group(), e.tag().element() as u8), name))
        })
        .collect()
}

/// Whether `tag` is a Private Creator element (gggg,0010-00FF).
pub fn is_creator(tag: Tag) -> bool {
    tag.group() % 2 == 1 && (0x0010..=0x00FF).contains(&tag.element())
}

impl PrivatePolicy {
    /// What happens to the private data element `tag` of a data set whose creators are `creators`.
    pub fn decide(&self, tag: Tag, creators: &HashMap<(u16, u8), String>) -> PrivateDecision {
        if tag.element() < 0x1000 {
            return PrivateDecision::Remove; // group length, creators, reserved
        }
        let block = (tag.element() >> 8) as u8;
        let Some(creator) = creators.get(&(tag.group(), block)) else {
            return PrivateDecision::Remove; // no creator: nothing can vouch for it
        };
        let safe = self
            .safe
            .contains(creator, tag.group(), (tag.element() & 0xFF) as u8);
        if self.retain_safe && safe {
            return PrivateDecision::Keep;
        }
        if self.keep.contains(creator.as_str()) {
            return PrivateDecision::Refuse(if self.retain_safe {
                format!(
                    "private block {creator:?} is to be kept, but its element {tag} is not on the safe-private list (PS3.15 Table E.3.10-1 or the trial's additions): its de-identification cannot be guaranteed"
                )
            } else {
                format!(
                    "private block {creator:?} is to be kept, but the retain-safe-private option is not selected, so its element {tag} would be removed"
                )
            });
        }
        PrivateDecision::Remove
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_list_has_the_tables_rows() {
        let l = SafePrivateList::standard();
        assert_eq!(l.len(), 130);
        assert!(l.contains("SIEMENS MR HEADER", 0x0019, 0x0C));
        assert!(l.contains("Philips MR Imaging DD 001", 0x2005, 0x0E));
        assert!(l.contains("GEMS_PARM_01", 0x0043, 0x39));
        assert!(!l.contains("SIEMENS CSA HEADER", 0x0029, 0x10));
    }
}
