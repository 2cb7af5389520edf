//! The product's rules, free of Discord and AWS types: what a valid
//! declaration is, and how typed options become one.

pub mod access;
pub mod arn;
pub mod declaration;
pub mod impact;
pub mod incident;
pub mod limits;
pub mod links;
pub mod notes;
pub mod plans;
pub mod text;
pub mod timeline;
pub mod token;

pub use arn::{Arn, ArnError, ResponsePlanArn};
pub use declaration::{Declaration, DeclareInput, IncidentSource, Origin, Refusal, Trigger};
pub use impact::Impact;
pub use incident::{IncidentArn, IncidentSummary, RecordChange};
pub use links::{ItemTarget, RelatedItem};
pub use notes::Note;
pub use plans::{PlanCatalog, PlanSummary, ResolvedPlan};
pub use text::IncidentTitle;
pub use timeline::{EventSummary, IncidentRecord, ListedItem, Status, TimelineEvent};
pub use token::ClientToken;
