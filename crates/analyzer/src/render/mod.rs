pub mod charts;
pub mod json;
pub mod markdown;
pub mod report;
pub mod text;
