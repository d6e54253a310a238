//! A query put together at run time (a filter's optional conditions, a list of ids), with
//! its values bound and numbered `$1, $2, ...`: the one placeholder form that both SQLite
//! and PostgreSQL accept. sqlx's own `QueryBuilder` writes `?` for the `Any` driver, which
//! PostgreSQL rejects, so the store builds its dynamic statements here.

use std::fmt::Write;

use sqlx::any::{Any, AnyArguments, AnyRow};
use sqlx::{Arguments, Decode, Encode, Type};

/// A statement under construction: text with `$N` placeholders and the values they take
/// (owned, so a statement can be built in one place and run in another).
pub(crate) struct Sql {
    text: String,
    args: AnyArguments<'static>,
    bound: usize,
    /// The first value that could not be encoded (none of the store's types fail, but
    /// the error is kept rather than dropped); the query fails with it when it runs.
    failed: Option<String>,
}

impl Sql {
    pub(crate) fn new(text: impl Into<String>) -> Sql {
        Sql {
            text: text.into(),
            args: AnyArguments::default(),
            bound: 0,
            failed: None,
        }
    }

    /// Appends statement text as is (never a value: values go through `push_bind`).
    pub(crate) fn push(&mut self, text: impl AsRef<str>) -> &mut Sql {
        self.text.push_str(text.as_ref());
        self
    }

    /// Appends the next placeholder and binds `value` to it.
    pub(crate) fn push_bind<T>(&mut self, value: T) -> &mut Sql
    where
        T: 'static + Encode<'static, Any> + Type<Any>,
    {
        self.bound += 1;
        // Writing to a String cannot fail.
        let _ = write!(self.text, "${}", self.bound);
        if let Err(e) = self.args.add(value) {
            self.failed.get_or_insert_with(|| e.to_string());
        }
        self
    }

    /// Appends `(v1, v2, ...)`, each value bound: the right side of an `IN`. An empty list
    /// becomes `(NULL)`, which matches nothing, as an empty `IN` would mean.
    pub(crate) fn push_list<T, I>(&mut self, values: I) -> &mut Sql
    where
        T: 'static + Encode<'static, Any> + Type<Any>,
        I: IntoIterator<Item = T>,
    {
        self.text.push('(');
        let mut any = false;
        for v in values {
            if any {
                self.text.push_str(", ");
            }
            any = true;
            self.push_bind(v);
        }
        if !any {
            self.text.push_str("NULL");
        }
        self.text.push(')');
        self
    }

    /// The statement's text (it holds no value): for a test's query plan.
    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Runs the statement (once: its values move into it) and returns every row.
    pub(crate) async fn fetch_all<'e, E>(&mut self, executor: E) -> Result<Vec<AnyRow>, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        self.check()?;
        let args = std::mem::take(&mut self.args);
        sqlx::query_with(&self.text, args).fetch_all(executor).await
    }

    /// Runs the statement (once) and returns the first column of its one row.
    pub(crate) async fn fetch_scalar<'e, E, O>(&mut self, executor: E) -> Result<O, sqlx::Error>
    where
        E: sqlx::Executor<'e, Database = Any>,
        O: Send + Unpin + for<'r> Decode<'r, Any> + Type<Any>,
    {
        self.check()?;
        let args = std::mem::take(&mut self.args);
        sqlx::query_scalar_with(&self.text, args)
            .fetch_one(executor)
            .await
    }

    fn check(&self) -> Result<(), sqlx::Error> {
        match &self.failed {
            Some(e) => Err(sqlx::Error::Encode(e.clone().into())),
            None => Ok(()),
        }
    }
}
