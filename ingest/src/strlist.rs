//! A short list of strings kept inline (groups, source IPs, policies).
//!
//! Unlike `SmallVec` it is covariant in its lifetime, so an `AccessEvent<'static>` can be
//! used where an `AccessEvent<'a>` is expected.

use std::borrow::Cow;
use std::fmt;

use serde::{Serialize, Serializer};

const INLINE: usize = 3;

/// Up to three strings without a heap allocation; more spill into a `Vec`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StrList<'a> {
    inline: [Option<Cow<'a, str>>; INLINE],
    len: usize,
    spill: Vec<Cow<'a, str>>,
}

impl<'a> StrList<'a> {
    pub fn new() -> Self {
        StrList::default()
    }

    pub fn push(&mut self, s: Cow<'a, str>) {
        if self.len < INLINE {
            self.inline[self.len] = Some(s);
        } else {
            self.spill.push(s);
        }
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.inline
            .iter()
            .flatten()
            .chain(self.spill.iter())
            .map(|c| c.as_ref())
    }

    pub fn first(&self) -> Option<&str> {
        self.iter().next()
    }

    pub fn contains(&self, s: &str) -> bool {
        self.iter().any(|x| x == s)
    }

    pub fn into_owned(self) -> StrList<'static> {
        self.into_iter()
            .map(|c| Cow::Owned(c.into_owned()))
            .collect()
    }
}

impl<'a> FromIterator<Cow<'a, str>> for StrList<'a> {
    fn from_iter<I: IntoIterator<Item = Cow<'a, str>>>(iter: I) -> Self {
        let mut l = StrList::new();
        for s in iter {
            l.push(s);
        }
        l
    }
}

impl<'a> IntoIterator for StrList<'a> {
    type Item = Cow<'a, str>;
    type IntoIter = std::iter::Chain<
        std::iter::Flatten<std::array::IntoIter<Option<Cow<'a, str>>, INLINE>>,
        std::vec::IntoIter<Cow<'a, str>>,
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.inline.into_iter().flatten().chain(self.spill)
    }
}

impl fmt::Debug for StrList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for StrList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_then_spill_in_order() {
        let l: StrList = ["a", "b", "c", "d", "e"]
            .into_iter()
            .map(Cow::Borrowed)
            .collect();
        assert_eq!(l.len(), 5);
        assert_eq!(l.iter().collect::<Vec<_>>(), ["a", "b", "c", "d", "e"]);
        assert!(l.contains("d"));
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"["a","b","c","d","e"]"#
        );
        let owned: StrList<'static> = l.clone().into_owned();
        assert_eq!(owned, l);
    }

    #[test]
    fn covariant() {
        fn shorten<'a>(l: StrList<'static>) -> StrList<'a> {
            l
        }
        assert!(shorten(StrList::new()).is_empty());
    }
}
