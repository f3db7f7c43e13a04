// SPDX-License-Identifier: Apache-2.0
//! The oslo.policy rule language.
//!
//! **Status:** being built (foundation issue); the parser and evaluator land in this module.
