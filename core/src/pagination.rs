// SPDX-License-Identifier: Apache-2.0
//! Marker/limit/sort pagination as OpenStack list APIs take it.
//!
//! Nova, Cinder, Glance and Neutron page lists with `?limit=N&marker=<id of the last item seen>`
//! and sort with `sort_key`/`sort_dir` pairs (Nova, Cinder, Neutron) or `sort=key:dir,...`
//! (Glance, newer Cinder). [`PageRequest::from_query`] accepts both, [`paginate`] applies a
//! request to a sorted list, and an unknown marker is an error (Nova answers 400 "marker not
//! found") rather than an empty page, so clients never loop.

use serde::{Deserialize, Serialize};

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SortDir {
    /// Ascending (the default).
    #[default]
    Asc,
    /// Descending.
    Desc,
}

/// One sort criterion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    /// The attribute to sort by (`"created_at"`, `"name"`).
    pub key: String,
    /// The direction.
    pub dir: SortDir,
}

/// A parsed pagination request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PageRequest {
    /// Return items after the one with this id.
    pub marker: Option<String>,
    /// At most this many items; `None` means the service's maximum.
    pub limit: Option<usize>,
    /// Sort criteria, most significant first; empty means the service's default order.
    pub sort: Vec<SortKey>,
}

/// A malformed pagination parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaginationError {
    /// `limit` is not a non-negative integer.
    #[error("limit must be a non-negative integer, got {0:?}")]
    InvalidLimit(String),
    /// A sort direction other than `asc`/`desc`.
    #[error("sort direction must be 'asc' or 'desc', got {0:?}")]
    InvalidSortDir(String),
    /// A sort key the resource does not support.
    #[error("sort key {0:?} is not supported")]
    InvalidSortKey(String),
    /// More `sort_dir` than `sort_key` parameters.
    #[error("the number of sort_dir parameters exceeds the number of sort_key parameters")]
    UnmatchedSortDir,
    /// The marker names no item in the list.
    #[error("marker [{0}] not found")]
    MarkerNotFound(String),
}

impl crate::error::Classify for PaginationError {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidInput
    }
}

fn parse_dir(s: &str) -> Result<SortDir, PaginationError> {
    match s.to_ascii_lowercase().as_str() {
        "asc" => Ok(SortDir::Asc),
        "desc" => Ok(SortDir::Desc),
        _ => Err(PaginationError::InvalidSortDir(crate::id::truncate_for_message(s))),
    }
}

impl PageRequest {
    /// Parses `limit`, `marker`, repeated `sort_key`/`sort_dir` and `sort=key[:dir],...` from
    /// query pairs, keeping only sort keys in `allowed_sort_keys`. A `limit` above `max_limit`
    /// is lowered to it, as Nova's `osapi_max_limit` does.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        allowed_sort_keys: &[&str],
        max_limit: usize,
    ) -> Result<Self, PaginationError> {
        let mut req = PageRequest::default();
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        for (k, v) in pairs {
            match k {
                "limit" => {
                    let n: usize = v.parse().map_err(|_| {
                        PaginationError::InvalidLimit(crate::id::truncate_for_message(v))
                    })?;
                    req.limit = Some(n.min(max_limit));
                }
                "marker" => req.marker = Some(v.to_owned()),
                "sort_key" => keys.push(v.to_owned()),
                "sort_dir" => dirs.push(parse_dir(v)?),
                "sort" => {
                    for part in v.split(',').filter(|p| !p.is_empty()) {
                        let (key, dir) = match part.split_once(':') {
                            Some((k, d)) => (k, parse_dir(d)?),
                            None => (part, SortDir::Asc),
                        };
                        keys.push(key.to_owned());
                        dirs.push(dir);
                    }
                }
                _ => {}
            }
        }
        if dirs.len() > keys.len() {
            return Err(PaginationError::UnmatchedSortDir);
        }
        for (i, key) in keys.into_iter().enumerate() {
            if !allowed_sort_keys.contains(&key.as_str()) {
                return Err(PaginationError::InvalidSortKey(crate::id::truncate_for_message(&key)));
            }
            let dir = dirs.get(i).copied().unwrap_or_default();
            req.sort.push(SortKey { key, dir });
        }
        if req.limit.is_none() {
            req.limit = Some(max_limit);
        }
        Ok(req)
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The marker for the next page (the id of the last item) when more items follow.
    pub next_marker: Option<String>,
}

/// Applies `req`'s marker and limit to `items`, which must already be in the requested order.
/// `id_of` gives the marker value of an item.
pub fn paginate<T>(
    items: Vec<T>,
    req: &PageRequest,
    id_of: impl Fn(&T) -> &str,
) -> Result<Page<T>, PaginationError> {
    let start = match &req.marker {
        Some(m) => {
            items.iter().position(|i| id_of(i) == m).ok_or_else(|| {
                PaginationError::MarkerNotFound(crate::id::truncate_for_message(m))
            })? + 1
        }
        None => 0,
    };
    let limit = req.limit.unwrap_or(usize::MAX);
    let total = items.len();
    let end = start.saturating_add(limit).min(total);
    let items: Vec<T> = items.into_iter().skip(start).take(end - start).collect();
    let next_marker =
        if end < total && limit > 0 { items.last().map(|i| id_of(i).to_owned()) } else { None };
    Ok(Page { items, next_marker })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_sort_styles_and_caps_limit() {
        let q = [("limit", "5000"), ("sort_key", "name"), ("sort_dir", "desc"), ("sort_key", "id")];
        let r = PageRequest::from_query(q, &["name", "id"], 1000).unwrap();
        assert_eq!(r.limit, Some(1000));
        assert_eq!(r.sort[0], SortKey { key: "name".into(), dir: SortDir::Desc });
        assert_eq!(r.sort[1].dir, SortDir::Asc);
        let r = PageRequest::from_query([("sort", "name:desc,id")], &["name", "id"], 10).unwrap();
        assert_eq!(r.sort.len(), 2);
        assert!(PageRequest::from_query([("limit", "-1")], &[], 10).is_err());
        assert!(PageRequest::from_query([("sort_dir", "up")], &[], 10).is_err());
        assert!(PageRequest::from_query([("sort_key", "secret")], &["name"], 10).is_err());
        assert_eq!(
            PageRequest::from_query([("sort_dir", "asc")], &[], 10),
            Err(PaginationError::UnmatchedSortDir)
        );
    }

    #[test]
    fn pages_follow_markers_to_the_end() {
        let items: Vec<String> = (0..7).map(|i| format!("id{i}")).collect();
        let mut req = PageRequest { limit: Some(3), ..Default::default() };
        let mut seen = Vec::new();
        loop {
            let page = paginate(items.clone(), &req, |s| s.as_str()).unwrap();
            seen.extend(page.items.clone());
            match page.next_marker {
                Some(m) => req.marker = Some(m),
                None => break,
            }
        }
        assert_eq!(seen, items);
        req.marker = Some("missing".into());
        assert!(matches!(
            paginate(items, &req, |s| s.as_str()),
            Err(PaginationError::MarkerNotFound(_))
        ));
    }
}
