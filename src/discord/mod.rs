//! The Discord edge: the command definition, reading interactions, the event
//! handler and rendering replies.

pub mod actions;
pub mod command;
pub mod handler;
pub mod options;
pub mod render;
