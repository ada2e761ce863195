//! The `notes` table as a SeaORM entity (created by the workspace's `migration` crate).

use sea_orm::entity::prelude::*;

/// One note: an auto-increment id and a text body.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notes")]
pub struct Model {
    /// Auto-increment primary key.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// The note's text (1 to 10,000 characters).
    #[sea_orm(column_type = "Text")]
    pub body: String,
}

/// `notes` has no relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
