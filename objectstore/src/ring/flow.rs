// SPDX-License-Identifier: Apache-2.0
//! A small max-flow (Dinic) for the rebalance's transportation problems: which empty
//! replica slots go to which servers, so that as many as possible land on a server that
//! still needs part-replicas and that the partition may use.

use std::collections::VecDeque;

/// A directed graph with integer capacities.
#[derive(Debug, Default)]
pub(crate) struct Flow {
    /// Per edge: head, residual capacity. Edge `e ^ 1` is the reverse of `e`.
    to: Vec<usize>,
    cap: Vec<u64>,
    adj: Vec<Vec<usize>>,
}

impl Flow {
    /// A graph of `n` nodes.
    pub(crate) fn new(n: usize) -> Flow {
        Flow { to: vec![], cap: vec![], adj: vec![vec![]; n] }
    }

    /// Adds the edge `a -> b` with capacity `c`; returns its id.
    pub(crate) fn edge(&mut self, a: usize, b: usize, c: u64) -> usize {
        let e = self.to.len();
        self.to.push(b);
        self.cap.push(c);
        self.adj[a].push(e);
        self.to.push(a);
        self.cap.push(0);
        self.adj[b].push(e + 1);
        e
    }

    /// Flow on edge `e` (after [`Flow::max_flow`]).
    pub(crate) fn flow(&self, e: usize) -> u64 {
        self.cap[e ^ 1]
    }

    /// Maximum flow from `s` to `t`.
    pub(crate) fn max_flow(&mut self, s: usize, t: usize) -> u64 {
        let n = self.adj.len();
        let mut total = 0;
        let mut level = vec![usize::MAX; n];
        let mut it = vec![0usize; n];
        loop {
            level.iter_mut().for_each(|l| *l = usize::MAX);
            level[s] = 0;
            let mut q = VecDeque::from([s]);
            while let Some(a) = q.pop_front() {
                for &e in &self.adj[a] {
                    let b = self.to[e];
                    if self.cap[e] > 0 && level[b] == usize::MAX {
                        level[b] = level[a] + 1;
                        q.push_back(b);
                    }
                }
            }
            if level[t] == usize::MAX {
                return total;
            }
            it.iter_mut().for_each(|i| *i = 0);
            loop {
                let f = self.augment(s, t, u64::MAX, &level, &mut it);
                if f == 0 {
                    break;
                }
                total += f;
            }
        }
    }

    /// One blocking-flow path, iteratively (no recursion depth limit to worry about).
    fn augment(
        &mut self,
        s: usize,
        t: usize,
        limit: u64,
        level: &[usize],
        it: &mut [usize],
    ) -> u64 {
        let mut path: Vec<usize> = vec![]; // edges
        let mut a = s;
        loop {
            if a == t {
                let f = path.iter().map(|&e| self.cap[e]).min().unwrap_or(0).min(limit);
                for &e in &path {
                    self.cap[e] -= f;
                    self.cap[e ^ 1] += f;
                }
                return f;
            }
            let mut advanced = false;
            while it[a] < self.adj[a].len() {
                let e = self.adj[a][it[a]];
                let b = self.to[e];
                if self.cap[e] > 0 && level[b] == level[a] + 1 {
                    path.push(e);
                    a = b;
                    advanced = true;
                    break;
                }
                it[a] += 1;
            }
            if !advanced {
                // Dead end: retreat and skip the edge that led here.
                let Some(e) = path.pop() else { return 0 };
                a = self.to[e ^ 1];
                it[a] += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Flow;

    #[test]
    fn bipartite_assignment_reaches_the_maximum() {
        // Two slots may use server A only, one slot A or B; A takes 2, B takes 2.
        let (s, t) = (0, 1);
        let mut g = Flow::new(7);
        g.edge(s, 2, 2); // class "A only", 2 slots
        g.edge(s, 3, 1); // class "A or B", 1 slot
        let a_only = g.edge(2, 4, 2);
        let ab_a = g.edge(3, 4, 1);
        let ab_b = g.edge(3, 5, 1);
        g.edge(4, t, 2);
        g.edge(5, t, 2);
        assert_eq!(g.max_flow(s, t), 3);
        assert_eq!(g.flow(a_only), 2);
        assert_eq!(g.flow(ab_a) + g.flow(ab_b), 1);
        assert_eq!(g.flow(ab_b), 1, "the flexible slot must leave A to the others");
    }

    #[test]
    fn capacity_limits_the_flow() {
        let mut g = Flow::new(4);
        g.edge(0, 2, 5);
        g.edge(2, 3, 3);
        g.edge(3, 1, 10);
        assert_eq!(g.max_flow(0, 1), 3);
    }
}
