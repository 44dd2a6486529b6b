//! The one declaration each optimizer makes of its hyperparameters, and what is derived from it.
//!
//! [`declare_optimizer!`] takes the optimizer's struct with its hyperparameters (each once: key,
//! type, default, accepted range, one-line doc, the PyTorch/optax name where it differs) and its
//! state, and writes the typed builder, `new`, `Default`, the getters, the spec reader, the
//! report and the listing ([`Hyperparameter`]) from it. See [`crate::optim`] for the steps.

use serde::Serialize;

use super::{BuildOptions, Value};
use crate::error::{Error, Result};
use crate::schedule::Schedule;
use crate::spec::{Params, Range};

/// One declared hyperparameter, as `downhill optimizers`, the CLI help and the README show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hyperparameter {
    /// The spec key and builder method, e.g. `beta1`.
    pub key: &'static str,
    /// Its default.
    pub default: Value,
    /// What it accepts, e.g. `[0, 1)`.
    pub accepts: String,
    /// One line saying what it does.
    pub doc: &'static str,
    /// The name PyTorch or optax gives it, where different, e.g. `PyTorch betas[0]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<&'static str>,
    /// Whether it is a rate that takes a [`Schedule`].
    pub rate: bool,
}

impl Hyperparameter {
    /// `key=default`, the default written as a person would type it.
    pub fn key_default(&self) -> String {
        format!("{}={}", self.key, show(&self.default))
    }
}

/// A value written the way a spec takes it: `1e-3` rather than `0.001`.
pub fn show(v: &Value) -> String {
    match v {
        Value::Number(x) => show_number(*x),
        Value::Bool(b) => b.to_string(),
        Value::Text(t) => t.to_string(),
        Value::Schedule(s) => format!("{s:?}"),
        Value::Optimizer(r) => r.name.to_string(),
        Value::Groups(g) => format!("{} groups", g.len()),
    }
}

/// `1e-3`, `2.5e-3`, `0.9`, `50`, `1e6`: what a person types.
pub fn show_number(x: f64) -> String {
    if x != 0.0 && x.is_finite() && (x.abs() < 1e-2 || x.abs() >= 1e5) {
        let s = format!("{x:e}");
        s.replace("e-0", "e-")
    } else {
        format!("{x}")
    }
}

/// A type a hyperparameter can have: how it is read from a spec, checked, reported and listed.
/// Implemented for `f64` (with a [`Range`]), [`Schedule`] (a rate), `bool`, `u64` (a count
/// with bounds), `Option<f64>` (absent by default) and the option enums ([`choice_value!`]).
pub trait HyperValue: Clone + Sized {
    /// What a declaration says is accepted (a [`Range`] for numbers; `()` for switches).
    type Accepts: Copy;
    /// Reads `key` (or an alias) from a spec, `default` when absent.
    fn read(
        p: &mut Params,
        key: &'static str,
        aliases: &[&'static str],
        default: &Self,
        accepts: Self::Accepts,
        options: &BuildOptions,
    ) -> Result<Self>;
    /// Checks a value given in code, with the error a spec gives (`field` is e.g. `adam.beta1`).
    fn check(&self, field: &str, accepts: Self::Accepts) -> Result<()>;
    /// The value for reports.
    fn report(&self) -> Value;
    /// The accepted values, written out.
    fn accepted(accepts: Self::Accepts) -> String;
    /// Whether this is a rate (takes a schedule).
    const RATE: bool = false;
}

impl HyperValue for f64 {
    type Accepts = Range;
    fn read(
        p: &mut Params,
        key: &'static str,
        aliases: &[&'static str],
        default: &f64,
        accepts: Range,
        _: &BuildOptions,
    ) -> Result<f64> {
        p.number_aliased(key, aliases, *default, accepts)
    }
    fn check(&self, field: &str, accepts: Range) -> Result<()> {
        accepts.check(field, *self).map(|_| ())
    }
    fn report(&self) -> Value {
        Value::Number(*self)
    }
    fn accepted(accepts: Range) -> String {
        accepts.describe()
    }
}

/// Absent unless given (`None` is the default), e.g. Adafactor's `eps1`.
impl HyperValue for Option<f64> {
    type Accepts = Range;
    fn read(
        p: &mut Params,
        key: &'static str,
        _: &[&'static str],
        default: &Option<f64>,
        accepts: Range,
        _: &BuildOptions,
    ) -> Result<Option<f64>> {
        Ok(p.optional(key, accepts)?.or(*default))
    }
    fn check(&self, field: &str, accepts: Range) -> Result<()> {
        self.map_or(Ok(()), |x| accepts.check(field, x).map(|_| ()))
    }
    fn report(&self) -> Value {
        match self {
            Some(x) => Value::Number(*x),
            None => Value::Text("none"),
        }
    }
    fn accepted(accepts: Range) -> String {
        accepts.describe()
    }
}

/// The learning rate: a [`Schedule`], given as `lr=` or as the spec's schedule (not both).
impl HyperValue for Schedule {
    type Accepts = Range;
    fn read(
        p: &mut Params,
        _: &'static str,
        _: &[&'static str],
        default: &Schedule,
        _: Range,
        options: &BuildOptions,
    ) -> Result<Schedule> {
        let lr = p.optional("lr", Range::Positive)?;
        match (lr, &options.schedule) {
            (Some(_), Some(_)) => Err(Error::Inconsistent {
                field: "lr".into(),
                message: "give the learning rate either as lr= or as a schedule, not both".into(),
            }),
            (Some(lr), None) => Ok(Schedule::constant(lr)),
            (None, Some(s)) => Ok(s.clone()),
            (None, None) => Ok(default.clone()),
        }
    }
    fn check(&self, field: &str, accepts: Range) -> Result<()> {
        match self {
            Schedule::Constant { lr } => accepts.check(field, *lr).map(|_| ()),
            other => other.validate(),
        }
    }
    fn report(&self) -> Value {
        super::lr_value(self)
    }
    fn accepted(accepts: Range) -> String {
        format!("{} or a schedule", accepts.describe())
    }
    const RATE: bool = true;
}

impl HyperValue for bool {
    type Accepts = ();
    fn read(
        p: &mut Params,
        key: &'static str,
        _: &[&'static str],
        default: &bool,
        _: (),
        _: &BuildOptions,
    ) -> Result<bool> {
        p.flag(key, *default)
    }
    fn check(&self, _: &str, _: ()) -> Result<()> {
        Ok(())
    }
    fn report(&self) -> Value {
        Value::Bool(*self)
    }
    fn accepted(_: ()) -> String {
        "true|false".into()
    }
}

/// A whole number in `lo..=hi`.
impl HyperValue for u64 {
    type Accepts = (u64, u64);
    fn read(
        p: &mut Params,
        key: &'static str,
        _: &[&'static str],
        default: &u64,
        (lo, hi): (u64, u64),
        _: &BuildOptions,
    ) -> Result<u64> {
        let x = p.count(key, *default, hi)?;
        x.check(&p.field(key), (lo, hi))?;
        Ok(x)
    }
    fn check(&self, field: &str, (lo, hi): (u64, u64)) -> Result<()> {
        if (lo..=hi).contains(self) {
            Ok(())
        } else {
            Err(Error::out_of_range(field, self, &Self::accepted((lo, hi))))
        }
    }
    fn report(&self) -> Value {
        Value::Number(*self as f64)
    }
    fn accepted((lo, hi): (u64, u64)) -> String {
        format!("[{lo}, {hi}]")
    }
}

/// A choice among named options, e.g. RMSprop's `eps_mode=outside|inside`.
pub trait Choice: Copy + PartialEq + 'static {
    /// Every option with its spec name, the default first or not.
    const OPTIONS: &'static [(&'static str, Self)];
    /// The spec name of `self`.
    fn name(self) -> &'static str {
        Self::OPTIONS.iter().find(|(_, c)| *c == self).map_or("?", |(n, _)| n)
    }
}

impl<C: Choice> HyperValue for C {
    type Accepts = ();
    fn read(
        p: &mut Params,
        key: &'static str,
        _: &[&'static str],
        default: &C,
        _: (),
        _: &BuildOptions,
    ) -> Result<C> {
        let names: Vec<&'static str> = C::OPTIONS.iter().map(|o| o.0).collect();
        let name = p.choice(key, &names, default.name())?;
        Ok(C::OPTIONS.iter().find(|o| o.0 == name).map_or(*default, |o| o.1))
    }
    fn check(&self, _: &str, _: ()) -> Result<()> {
        Ok(())
    }
    fn report(&self) -> Value {
        Value::Text(self.name())
    }
    fn accepted(_: ()) -> String {
        C::OPTIONS.iter().map(|o| o.0).collect::<Vec<_>>().join("|")
    }
}

/// The default accepted set of a hyperparameter type when a declaration names none.
pub trait AnyValue: HyperValue {
    /// Everything.
    const ANY: Self::Accepts;
}
impl AnyValue for bool {
    const ANY: () = ();
}
impl<C: Choice> AnyValue for C {
    const ANY: () = ();
}

/// Declares an optimizer: its struct, with each hyperparameter written once, and its state.
///
/// ```text
/// declare_optimizer! {
///     /// doc of the optimizer ...
///     #[derive(Debug, Clone, Serialize, Deserialize)]
///     pub struct Adam<T>, "adam", builder AdamBuilder {
///         /// Learning rate.
///         learning_rate: Schedule = 1e-3, in Range::Positive;   // the rate: key `lr`
///         /// First-moment decay.
///         beta1: f64 = 0.9, in Range::UnitHalfOpen, ref "PyTorch betas[0]";
///         /// Use the running maximum of v.
///         amsgrad: bool = false;
///         ...
///     }
///     options { decoupled: bool, transforms: GradientTransforms }   // set by code, not by key; `= expr` or Default
///     state { t: u64, m: Vec<T>, ... }               // Default at construction, or `= expr`
///     check = adam_check;          // optional: a cross-field check of the builder
///     init = start;                // optional: sets state from the hyperparameters
/// }
/// ```
///
/// The first hyperparameter named `learning_rate` is the rate: spec key and builder method `lr`.
/// Every other hyperparameter's spec key, builder method and getter are its field name.
/// `, in RANGE` gives the accepted values (required for numbers), `, alias "k"` adds a spec
/// alias, `, ref "PyTorch name"` names it as PyTorch or optax does where that differs.
macro_rules! declare_optimizer {
    (
        $(#[$meta:meta])*
        pub struct $name:ident<T>, $spec:literal, builder $builder:ident {
            $(
                #[doc = $doc:literal]
                $field:ident : $ty:ty = $default:expr $(, in $accepts:expr)? $(, alias $alias:literal)* $(, ref $reference:literal)? ;
            )*
        }
        options { $( $(#[$ometa:meta])* $ofield:ident : $oty:ty $(= $oinit:expr)? ),* $(,)? }
        state { $( $(#[$smeta:meta])* $sfield:ident : $sty:ty $(= $sinit:expr)? ),* $(,)? }
        $(check = $check:path;)?
        $(init = $init:path;)?
    ) => {
        $(#[$meta])*
        ///
        /// # Example
        ///
        /// Every hyperparameter set through the builder, here to its default; a value out of its
        /// range makes `build` fail with the error a spec would give.
        ///
        /// ```
        /// use downhill::optim::*;
        /// use downhill::{minimize, objectives::Rosenbrock, RunOptions};
        ///
        #[doc = concat!("let mut opt = ", stringify!($name), "::<f64>::builder()")]
        $( #[doc = concat!("    .", $crate::optim::declare::declare_optimizer!(@key $field), "(", stringify!($default), ")")] )*
        ///     .build()?;
        /// let f = Rosenbrock { a: 1.0, b: 10.0 };
        /// let run = minimize(&f, &mut opt, &[-1.5, 2.5], &RunOptions::steps(20), None)?;
        /// assert!(run.loss.is_finite());
        /// # Ok::<(), downhill::Error>(())
        /// ```
        pub struct $name<T> {
            $( $field: $ty, )*
            $( $(#[$ometa])* $ofield: $oty, )*
            $( $(#[$smeta])* $sfield: $sty, )*
        }

        #[doc = concat!("Builds a [`", stringify!($name), "`] from its hyperparameters, each checked as a spec checks it; ")]
        #[doc = concat!("start from [`", stringify!($name), "::builder`].")]
        #[derive(Debug, Clone)]
        pub struct $builder<T> {
            $( $field: $ty, )*
            $( $ofield: $oty, )*
            marker: std::marker::PhantomData<fn() -> T>,
        }

        impl<T: Real> Default for $builder<T> {
            fn default() -> Self {
                $builder {
                    $( $field: $crate::optim::declare::declare_optimizer!(@default $field, $ty, $default), )*
                    $( $ofield: $crate::optim::declare::declare_optimizer!(@init $($oinit)?), )*
                    marker: std::marker::PhantomData,
                }
            }
        }

        impl<T: Real> $builder<T> {
            $crate::optim::declare::declare_optimizer!(@setters $($field : $ty, #[doc = $doc];)*);

            $(
                #[doc = concat!("Sets `", stringify!($ofield), "`.")]
                pub fn $ofield(mut self, value: $oty) -> Self {
                    self.$ofield = value;
                    self
                }
            )*

            /// Checks every hyperparameter as a spec would and builds the optimizer.
            pub fn build(self) -> $crate::error::Result<$name<T>> {
                $(
                    $crate::optim::declare::HyperValue::check(
                        &self.$field,
                        &$crate::optim::declare::declare_optimizer!(@field $spec, $field),
                        $crate::optim::declare::declare_optimizer!(@accepts $ty $(, $accepts)?),
                    )?;
                )*
                $( $check(&self)?; )?
                Ok(self.assemble())
            }

            /// The optimizer without the checks (for defaults, which are valid).
            fn assemble(self) -> $name<T> {
                #[allow(unused_mut)]
                let mut built = $name {
                    $( $field: self.$field, )*
                    $( $ofield: self.$ofield, )*
                    $( $sfield: $crate::optim::declare::declare_optimizer!(@init $($sinit)?), )*
                };
                $( $init(&mut built); )?
                built
            }

            /// Reads the declared keys from a spec, with this builder's values as defaults.
            #[allow(unused_variables)]
            pub(crate) fn read_spec(
                mut self,
                p: &mut $crate::spec::Params,
                options: &$crate::optim::BuildOptions,
            ) -> $crate::error::Result<Self> {
                $(
                    self.$field = <$ty as $crate::optim::declare::HyperValue>::read(
                        p,
                        $crate::optim::declare::declare_optimizer!(@key $field),
                        &[$($alias),*],
                        &self.$field,
                        $crate::optim::declare::declare_optimizer!(@accepts $ty $(, $accepts)?),
                        options,
                    )?;
                )*
                Ok(self)
            }

            /// The declared hyperparameters, with this builder's values as their defaults.
            pub fn declared(&self) -> Vec<$crate::optim::Hyperparameter> {
                vec![$(
                    $crate::optim::Hyperparameter {
                        key: $crate::optim::declare::declare_optimizer!(@key $field),
                        default: $crate::optim::declare::HyperValue::report(&self.$field),
                        accepts: <$ty as $crate::optim::declare::HyperValue>::accepted(
                            $crate::optim::declare::declare_optimizer!(@accepts $ty $(, $accepts)?),
                        ),
                        doc: $doc.trim_start(),
                        reference: $crate::optim::declare::declare_optimizer!(@reference $($reference)?),
                        rate: <$ty as $crate::optim::declare::HyperValue>::RATE,
                    },
                )*]
            }
        }

        impl<T: Real> $name<T> {
            #[doc = concat!("A builder with the defaults; `.build()` checks and returns the [`", stringify!($name), "`].")]
            pub fn builder() -> $builder<T> {
                $builder::default()
            }

            /// The declared hyperparameters with their defaults, ranges and docs.
            pub fn declared() -> Vec<$crate::optim::Hyperparameter> {
                $builder::<T>::default().declared()
            }

            /// The declared hyperparameters' current values, in declaration order.
            fn declared_report(&self) -> Vec<(&'static str, $crate::optim::Value)> {
                vec![$(
                    (
                        $crate::optim::declare::declare_optimizer!(@key $field),
                        $crate::optim::declare::HyperValue::report(&self.$field),
                    ),
                )*]
            }

            /// A builder holding this optimizer's hyperparameters (not its state).
            pub fn to_builder(&self) -> $builder<T> {
                $builder {
                    $( $field: self.$field.clone(), )*
                    $( $ofield: self.$ofield.clone(), )*
                    marker: std::marker::PhantomData,
                }
            }

            /// Reads the spec's keys into a builder that starts from `self`'s values.
            #[allow(dead_code)]
            pub(crate) fn spec_builder(
                p: &mut $crate::spec::Params,
                options: &$crate::optim::BuildOptions,
            ) -> $crate::error::Result<$builder<T>> {
                $builder::<T>::default().read_spec(p, options)
            }

            $crate::optim::declare::declare_optimizer!(@getters $($field : $ty, #[doc = $doc];)*);
        }

        impl<T: Real> Default for $name<T> {
            /// The declared defaults.
            fn default() -> Self {
                $builder::<T>::default().assemble()
            }
        }
    };

    (@key learning_rate) => { "lr" };
    (@key $field:ident) => { stringify!($field) };
    (@field $spec:literal, learning_rate) => { concat!($spec, ".lr") };
    (@field $spec:literal, $field:ident) => { concat!($spec, ".", stringify!($field)) };
    (@accepts $ty:ty, $accepts:expr) => { $accepts };
    (@accepts $ty:ty) => { <$ty as $crate::optim::declare::AnyValue>::ANY };
    (@reference $reference:literal) => { Some($reference) };
    (@reference) => { None };
    (@default learning_rate, $ty:ty, $default:expr) => { <$ty>::from($default) };
    (@default $field:ident, $ty:ty, $default:expr) => { $default };
    (@init $init:expr) => { $init };
    (@init) => { Default::default() };

    (@setters) => {};
    (@setters learning_rate : $ty:ty, #[doc = $doc:literal]; $($rest:tt)*) => {
        #[doc = concat!("The learning rate: a number or a [`Schedule`](crate::schedule::Schedule). ", $doc)]
        pub fn lr(mut self, value: impl Into<$ty>) -> Self {
            self.learning_rate = value.into();
            self
        }
        $crate::optim::declare::declare_optimizer!(@setters $($rest)*);
    };
    (@setters $field:ident : $ty:ty, #[doc = $doc:literal]; $($rest:tt)*) => {
        #[doc = $doc]
        pub fn $field(mut self, value: $ty) -> Self {
            self.$field = value;
            self
        }
        $crate::optim::declare::declare_optimizer!(@setters $($rest)*);
    };

    (@getters) => {};
    (@getters learning_rate : $ty:ty, #[doc = $doc:literal]; $($rest:tt)*) => {
        /// The learning rate as declared (a schedule or a number);
        /// [`Optimizer::learning_rate`](crate::optim::Optimizer::learning_rate)
        /// gives the rate of the next update.
        pub fn lr(&self) -> $ty {
            self.learning_rate.clone()
        }

        /// The defaults with the learning rate `lr`, checked.
        pub fn new(lr: impl Into<$ty>) -> $crate::error::Result<Self> {
            Self::builder().lr(lr).build()
        }
        $crate::optim::declare::declare_optimizer!(@getters $($rest)*);
    };
    (@getters $field:ident : $ty:ty, #[doc = $doc:literal]; $($rest:tt)*) => {
        #[doc = $doc]
        pub fn $field(&self) -> $ty {
            self.$field.clone()
        }
        $crate::optim::declare::declare_optimizer!(@getters $($rest)*);
    };
}
pub(crate) use declare_optimizer;

/// Makes an enum a [`Choice`]: `choice_value!(EpsPlacement { Outside = "outside", Inside = "inside" })`.
macro_rules! choice_value {
    ($ty:ty { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $crate::optim::declare::Choice for $ty {
            const OPTIONS: &'static [(&'static str, Self)] = &[$(($name, <$ty>::$variant)),*];
        }
    };
}
pub(crate) use choice_value;

/// One registry line's summary: `key=default, ...` and a note.
pub(crate) fn summary(keys: &[Hyperparameter], note: &str) -> String {
    let mut s = keys.iter().map(Hyperparameter::key_default).collect::<Vec<_>>().join(", ");
    if !note.is_empty() {
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(note);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::show_number;

    #[test]
    fn numbers_show_as_typed() {
        assert_eq!(show_number(1e-3), "1e-3");
        assert_eq!(show_number(2.5e-3), "2.5e-3");
        assert_eq!(show_number(0.9), "0.9");
        assert_eq!(show_number(50.0), "50");
        assert_eq!(show_number(1e6), "1e6");
        assert_eq!(show_number(0.0), "0");
        assert_eq!(show_number(-0.8), "-0.8");
    }
}
