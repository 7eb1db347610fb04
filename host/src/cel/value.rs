//! Facts as CEL values, built once per image and shared by every CEL policy.
//!
//! The interpreter copies each element a comprehension visits
//! (`vulnerabilities.exists(v, ...)` copies every `v`), so objects and lists
//! here are reference-counted: a copy is a counter increment, never a deep
//! clone of a vulnerability. Fields are handed out borrowed.
//!
//! Iterating a facts list also checks the evaluation's deadline (see
//! [`budget`]): a runaway comprehension stops early and the evaluation is
//! reported as failed, never as a result.

use std::any::Any;
use std::sync::Arc;

use cel::ExecutionError;
use cel::common::traits::{self, Container, Indexer, Iterable, Sizer, Zeroer};
use cel::common::types::{
    self, CelBool, CelDouble, CelInt, CelList, CelNull, CelString, CelTimestamp, CelUInt, Type,
};
use cel::common::value::{CowVal, StaticVal, Val};

use super::shape::Shape;

/// A facts object (or any string-keyed map) as a CEL `map`: fields sorted by
/// key, shared.
#[derive(Debug, Clone)]
pub(crate) struct Object(Arc<[(CelString<'static>, Box<dyn Val>)]>);

/// A facts list (or a variable's list) as a CEL `list`, shared, iterated
/// within the budget.
#[derive(Debug, Clone)]
pub(crate) struct List<'v>(Arc<[Box<dyn Val + 'v>]>);

impl Object {
    /// Builds an object; of a key given twice, the first value is kept.
    pub(crate) fn new(fields: Vec<(String, Box<dyn Val>)>) -> Object {
        Object::sorted(sort_fields(
            fields
                .into_iter()
                .map(|(k, v)| (CelString::from(k), v))
                .collect(),
        ))
    }

    /// Builds an object from fields already sorted by key, without duplicates.
    fn sorted(fields: Vec<(CelString<'static>, Box<dyn Val>)>) -> Object {
        Object(fields.into())
    }

    pub(crate) fn field(&self, key: &str) -> Option<&(dyn Val + 'static)> {
        self.0
            .binary_search_by(|(k, _)| k.inner().cmp(key))
            .ok()
            .map(|i| self.0[i].1.as_ref())
    }
}

impl<'v> List<'v> {
    pub(crate) fn new(items: Vec<Box<dyn Val + 'v>>) -> List<'v> {
        List(items.into())
    }
}

/// A list the interpreter built (a `filter` or `map` result kept in a
/// variable) as a [`List`], so iterating it counts against the budget too.
/// Moves the elements; copies none.
pub(crate) fn budgeted<'v>(value: Box<dyn Val + 'v>) -> Box<dyn Val + 'v> {
    if value.get_type().kind() != types::Kind::List || value.downcast_ref::<CelList>().is_none() {
        return value;
    }
    match Vec::<Box<dyn Val + 'v>>::try_from(value) {
        Ok(items) => Box::new(List::new(items)),
        Err(value) => value,
    }
}

/// Whether iterating `value` takes a step from the budget at each element
/// (the facts' lists and objects, and lists held in variables).
pub(crate) fn counts_steps(value: &dyn Val) -> bool {
    value.downcast_ref::<Object>().is_some()
        || value.as_any().is_some_and(|any| any.is::<CountsSteps>())
}

/// What a [`List`] gives as `as_any`: it borrows, so it cannot be `Any`
/// itself, and the meter must tell it from the interpreter's lists.
struct CountsSteps;
static COUNTS_STEPS: CountsSteps = CountsSteps;

/// About how many bytes a value holds: a string its length, a list or map
/// [`super::cost::ELEMENT_BYTES`] an entry and what its strings hold.
pub(crate) fn held_bytes(value: &dyn Val) -> u64 {
    if let Some(text) = value.downcast_ref::<CelString>() {
        return text.inner().len() as u64;
    }
    let entry = super::cost::ELEMENT_BYTES;
    if let Some(list) = value.downcast_ref::<CelList>() {
        return list
            .inner()
            .iter()
            .map(|item| held_bytes(item.as_ref()).max(entry))
            .fold(0u64, u64::saturating_add);
    }
    // Anything else (a facts list, a number) is borrowed or small.
    entry
}

fn no_such_key(key: &dyn Val) -> ExecutionError {
    match key.downcast_ref::<CelString>() {
        Some(s) => ExecutionError::no_such_key(s.inner()),
        None => ExecutionError::no_such_key(&format!("{key:?}")),
    }
}

impl Val for Object {
    fn get_type(&self) -> &Type {
        <Self as Val>::cel_type()
    }

    fn cel_type() -> &'static Type {
        &types::MAP_TYPE
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn Iterable + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        Some(self)
    }

    fn equals(&self, other: &dyn Val) -> bool {
        if let Some(other) = other.downcast_ref::<Object>() {
            return Arc::ptr_eq(&self.0, &other.0)
                || (self.0.len() == other.0.len()
                    && self
                        .0
                        .iter()
                        .zip(other.0.iter())
                        .all(|(a, b)| a.0 == b.0 && a.1.equals(b.1.as_ref())));
        }
        // Any other map: same size, and every field equal to its entry.
        let (Some(sizer), Some(indexer)) = (other.as_sizer(), other.as_indexer()) else {
            return false;
        };
        other.get_type().kind() == types::Kind::Map
            && *sizer.size().inner() == self.0.len() as i64
            && self.0.iter().all(|(k, v)| {
                indexer
                    .get(k as &dyn Val)
                    .is_ok_and(|found| v.equals(found.as_ref()))
            })
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(self)
    }
}

impl StaticVal for Object {}

impl Indexer for Object {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let key = idx
            .downcast_ref::<CelString>()
            .ok_or_else(|| no_such_key(idx))?;
        self.field(key.inner())
            .map(|v| CowVal::Borrowed(v as &(dyn Val + 'v)))
            .ok_or_else(|| no_such_key(idx))
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        Indexer::get(self.as_ref(), idx).map(CowVal::into_owned)
    }
}

impl Container for Object {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(value
            .downcast_ref::<CelString>()
            .is_some_and(|key| self.field(key.inner()).is_some()))
    }
}

impl Iterable for Object {
    fn iter<'b, 'v>(&'b self) -> Box<dyn traits::Iterator<'b, 'v> + 'b>
    where
        Self: 'v,
    {
        Box::new(KeyIter {
            fields: &self.0,
            pos: 0,
        })
    }
}

impl Sizer for Object {
    fn size(&self) -> CelInt {
        CelInt::from(self.0.len() as i64)
    }
}

impl Zeroer for Object {
    fn is_zero_value(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'w> Val for List<'w> {
    fn get_type(&self) -> &Type {
        <Self as Val>::cel_type()
    }

    fn cel_type() -> &'static Type {
        &types::LIST_TYPE
    }

    fn as_adder<'b, 'v>(&'b self) -> Option<&'b (dyn traits::Adder + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_container(&self) -> Option<&dyn Container> {
        Some(self)
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn Iterable + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_sizer(&self) -> Option<&dyn Sizer> {
        Some(self)
    }

    fn as_zeroer(&self) -> Option<&dyn Zeroer> {
        Some(self)
    }

    fn equals(&self, other: &dyn Val) -> bool {
        let Some(iterable) = other.as_iterable() else {
            return false;
        };
        if other.get_type().kind() != types::Kind::List {
            return false;
        }
        let mut theirs = iterable.iter();
        for mine in self.0.iter() {
            match theirs.next() {
                Some(item) if mine.equals(item) => {}
                _ => return false,
            }
        }
        theirs.next().is_none()
    }

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(self.clone())
    }

    fn as_any(&self) -> Option<&dyn Any> {
        Some(&COUNTS_STEPS)
    }
}

impl<'w> Indexer for List<'w> {
    fn get<'b, 'v>(&'b self, idx: &dyn Val) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let index = if let Some(i) = idx.downcast_ref::<CelInt>() {
            usize::try_from(*i.inner()).ok()
        } else if let Some(u) = idx.downcast_ref::<CelUInt>() {
            usize::try_from(*u.inner()).ok()
        } else {
            return Err(ExecutionError::no_such_overload(
                "_[_]",
                vec!["list".to_owned(), idx.get_type().name().to_owned()],
            ));
        };
        index
            .and_then(|i| self.0.get(i))
            .map(|v| CowVal::Borrowed(v.as_ref()))
            .ok_or_else(|| {
                ExecutionError::IndexOutOfBounds(
                    cel::Value::try_from(idx).unwrap_or(cel::Value::Null),
                )
            })
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, ExecutionError>
    where
        Self: 'v,
    {
        self.as_ref().get(idx).map(CowVal::into_owned)
    }
}

impl<'w> traits::Adder for List<'w> {
    fn add<'b, 'v>(&'b self, rhs: &(dyn Val + 'v)) -> Result<CowVal<'b, 'v>, ExecutionError>
    where
        Self: 'v,
    {
        let iterable = rhs
            .as_iterable()
            .filter(|_| rhs.get_type().kind() == types::Kind::List)
            .ok_or_else(|| {
                ExecutionError::no_such_overload(
                    "_+_",
                    vec!["list".to_owned(), rhs.get_type().name().to_owned()],
                )
            })?;
        let mut items: Vec<Box<dyn Val + 'v>> = self.0.iter().map(|v| v.clone_as_boxed()).collect();
        let mut theirs = iterable.iter();
        while let Some(item) = theirs.next() {
            items.push(item.clone_as_boxed());
        }
        Ok(CowVal::owned(CelList::from(items)))
    }
}

impl Container for List<'_> {
    fn contains(&self, value: &dyn Val) -> Result<bool, ExecutionError> {
        Ok(self.0.iter().any(|item| item.equals(value)))
    }
}

impl<'w> Iterable for List<'w> {
    fn iter<'b, 'v>(&'b self) -> Box<dyn traits::Iterator<'b, 'v> + 'b>
    where
        Self: 'v,
    {
        Box::new(ListIter {
            items: &self.0,
            pos: 0,
        })
    }
}

impl Sizer for List<'_> {
    fn size(&self) -> CelInt {
        CelInt::from(self.0.len() as i64)
    }
}

impl Zeroer for List<'_> {
    fn is_zero_value(&self) -> bool {
        self.0.is_empty()
    }
}

/// Iterates a list while the evaluation's budget lasts.
struct ListIter<'b, 'v> {
    items: &'b [Box<dyn Val + 'v>],
    pos: usize,
}

impl<'b, 'v: 'w, 'w> traits::Iterator<'b, 'w> for ListIter<'b, 'v> {
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        let item = self.items.get(self.pos).filter(|_| budget::step())?;
        self.pos += 1;
        Some(item.as_ref())
    }
}

/// Iterates an object's keys while the evaluation's budget lasts.
struct KeyIter<'b> {
    fields: &'b [(CelString<'static>, Box<dyn Val>)],
    pos: usize,
}

impl<'b, 'w> traits::Iterator<'b, 'w> for KeyIter<'b> {
    fn next(&mut self) -> Option<&'b (dyn Val + 'w)> {
        let (key, _) = self.fields.get(self.pos).filter(|_| budget::step())?;
        self.pos += 1;
        Some(key)
    }
}

/// The budget of the CEL evaluation running on this thread: a deadline, a
/// cost budget and a memory limit (the units of [`super::cost`]). Iterating
/// a facts or variable list spends one unit a step, a comprehension over any
/// other list its length up front (see [`super::macros`]), customs'
/// functions what they read, a variable its size; the clock is read every few hundred
/// units. Once a limit is passed every further step fails, so a runaway
/// expression stops early, and the evaluation is reported as failed.
pub(crate) mod budget {
    use std::cell::Cell;
    use std::time::Instant;

    /// Units between two looks at the clock.
    const CHECK_EVERY: u64 = 256;

    /// The limit an evaluation passed.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Exceeded {
        Deadline,
        Cost,
        Memory,
    }

    thread_local! {
        static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
        static COST_LIMIT: Cell<u64> = const { Cell::new(u64::MAX) };
        static MEMORY_LIMIT: Cell<u64> = const { Cell::new(u64::MAX) };
        static SPENT: Cell<u64> = const { Cell::new(0) };
        static HELD: Cell<u64> = const { Cell::new(0) };
        static NEXT_CLOCK: Cell<u64> = const { Cell::new(0) };
        static EXCEEDED: Cell<Option<Exceeded>> = const { Cell::new(None) };
    }

    /// Starts a budget for the evaluation about to run on this thread.
    pub(crate) fn start(deadline: Instant, cost: u64, memory: u64) {
        DEADLINE.set(Some(deadline));
        COST_LIMIT.set(cost);
        MEMORY_LIMIT.set(memory);
        SPENT.set(0);
        HELD.set(0);
        NEXT_CLOCK.set(CHECK_EVERY);
        EXCEEDED.set(None);
    }

    /// Ends the budget: the limit passed, if any, with the clock read once
    /// more, so no run past its deadline gives a verdict.
    pub(crate) fn finish() -> Option<Exceeded> {
        let late = DEADLINE
            .take()
            .is_some_and(|deadline| Instant::now() >= deadline);
        let exceeded = EXCEEDED.take();
        exceeded.or(late.then_some(Exceeded::Deadline))
    }

    /// The limit passed so far, if any, reading the clock.
    pub(crate) fn check() -> Option<Exceeded> {
        if EXCEEDED.get().is_none()
            && DEADLINE
                .get()
                .is_some_and(|deadline| Instant::now() >= deadline)
        {
            EXCEEDED.set(Some(Exceeded::Deadline));
        }
        EXCEEDED.get()
    }

    /// Units spent so far.
    pub(crate) fn spent() -> u64 {
        SPENT.get()
    }

    /// Spends `units`; false once a limit has been passed.
    pub(crate) fn spend(units: u64) -> bool {
        if EXCEEDED.get().is_some() {
            return false;
        }
        let spent = SPENT.get().saturating_add(units);
        SPENT.set(spent);
        if spent > COST_LIMIT.get() {
            EXCEEDED.set(Some(Exceeded::Cost));
            return false;
        }
        if spent >= NEXT_CLOCK.get() {
            NEXT_CLOCK.set(spent.saturating_add(CHECK_EVERY));
            return check().is_none();
        }
        true
    }

    /// Counts one iteration.
    pub(crate) fn step() -> bool {
        spend(1)
    }

    /// Counts `bytes` more held by the evaluation's values.
    pub(crate) fn hold(bytes: u64) -> bool {
        let held = HELD.get().saturating_add(bytes);
        HELD.set(held);
        if held > MEMORY_LIMIT.get() && EXCEEDED.get().is_none() {
            EXCEEDED.set(Some(Exceeded::Memory));
        }
        spend(bytes)
    }
}

/// Keys whose RFC 3339 (or YYYY-MM-DD) strings become CEL timestamps, so
/// `now - image.created > days(30)` needs no parsing in the policy.
const TIME_FIELDS: [&str; 4] = ["created", "eol", "published", "scanned_at"];

/// Converts JSON to shared CEL values, consuming it: strings move, nothing
/// is copied. Where `shape` knows an object's fields, every one is present
/// (an absent field becomes `null`, or `[]` / `{}` for a list or map, so
/// expressions need no `has()` for facts) and its key is the shape's own
/// string, shared by every object rather than allocated per object.
pub(crate) fn from_json(value: serde_json::Value, shape: &'static Shape) -> Box<dyn Val> {
    convert(value, shape, None)
}

/// The value of a field the JSON left out.
fn absent(shape: &'static Shape) -> Box<dyn Val> {
    match shape {
        Shape::Nullable(_) => Box::new(CelNull),
        Shape::List(_) => Box::new(List::new(Vec::new())),
        Shape::Map(_) => Box::new(Object::new(Vec::new())),
        // A field that is always an object (a default one when unset).
        Shape::Object(fields) => Box::new(Object::sorted(
            fields
                .iter()
                .map(|(name, field)| (CelString::from(name.as_str()), absent(field)))
                .collect(),
        )),
        _ => Box::new(CelNull),
    }
}

fn convert(value: serde_json::Value, shape: &'static Shape, key: Option<&str>) -> Box<dyn Val> {
    use serde_json::Value as J;
    match value {
        J::Null => absent(shape),
        J::Bool(b) => Box::new(CelBool::from(b)),
        J::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Box::new(CelInt::from(i)),
            (None, Some(u)) => Box::new(CelUInt::from(u)),
            _ => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        J::String(s) => {
            if key.is_some_and(|k| TIME_FIELDS.contains(&k))
                && let Some(time) = parse_time(&s)
            {
                return Box::new(CelTimestamp::from(time));
            }
            Box::new(CelString::from(s))
        }
        J::Array(items) => {
            let item_shape = match shape.non_null() {
                Shape::List(item) => item.as_ref(),
                _ => &Shape::Any,
            };
            Box::new(List::new(
                items
                    .into_iter()
                    .map(|item| convert(item, item_shape, None))
                    .collect(),
            ))
        }
        J::Object(mut fields) => match shape.non_null() {
            // Known fields, in the shape's (sorted) order: no sort, shared keys.
            Shape::Object(known) => {
                let mut converted: Vec<(CelString<'static>, Box<dyn Val>)> = known
                    .iter()
                    .map(|(name, field_shape)| {
                        let value = match fields.remove(name) {
                            Some(value) => convert(value, field_shape, Some(name)),
                            None => absent(field_shape),
                        };
                        (CelString::from(name.as_str()), value)
                    })
                    .collect();
                if fields.is_empty() {
                    return Box::new(Object::sorted(converted));
                }
                // Keys the schema does not know (none for facts v1): keep them.
                converted.extend(fields.into_iter().map(|(k, v)| {
                    let value = convert(v, &Shape::Any, Some(&k));
                    (CelString::from(k), value)
                }));
                Box::new(Object::sorted(sort_fields(converted)))
            }
            other => {
                let value_shape = match other {
                    Shape::Map(value) => value.as_ref(),
                    _ => &Shape::Any,
                };
                let converted = fields
                    .into_iter()
                    .map(|(k, v)| {
                        let value = convert(v, value_shape, Some(&k));
                        (CelString::from(k), value)
                    })
                    .collect();
                Box::new(Object::sorted(sort_fields(converted)))
            }
        },
    }
}

fn sort_fields(
    mut fields: Vec<(CelString<'static>, Box<dyn Val>)>,
) -> Vec<(CelString<'static>, Box<dyn Val>)> {
    fields.sort_by(|a, b| a.0.inner().cmp(b.0.inner()));
    fields.dedup_by(|a, b| a.0.inner() == b.0.inner());
    fields
}

/// RFC 3339, or a plain date at midnight UTC.
pub(crate) fn parse_time(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(text).ok().or_else(|| {
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().fixed_offset())
    })
}
