//! `lakegate_when(condition, value)`: `CASE WHEN condition THEN value END`, evaluated eagerly.
//!
//! DataFusion does not plan correlated scalar subqueries inside CASE (its branches are lazy),
//! and SQLAlchemy's column reflection reads defaults, identity options and collations as
//! `CASE WHEN … THEN (SELECT …) ELSE NULL END`. Catalog subqueries have no side effects, so
//! evaluating both arguments and keeping the value where the condition holds gives the same
//! answer; `statement::rewrite` plans such CASEs as this function.

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::compute::{not, nullif};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

pub const WHEN: &str = "lakegate_when";

#[derive(Debug, PartialEq, Eq, Hash)]
struct When {
    signature: Signature,
}

pub fn when() -> ScalarUDF {
    ScalarUDF::new_from_impl(When {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

impl ScalarUDFImpl for When {
    fn name(&self) -> &str {
        WHEN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[1].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let condition = datafusion::arrow::compute::cast(&arrays[0], &DataType::Boolean)?;
        let condition: &BooleanArray = condition
            .as_any()
            .downcast_ref()
            .expect("cast to Boolean gives a BooleanArray");
        // NULL where the condition is false or NULL, as CASE without ELSE.
        let holds = BooleanArray::from_iter(condition.iter().map(|c| Some(c == Some(true))));
        let value = nullif(&arrays[1], &not(&holds)?)?;
        super::udf::shaped(&args.args, value)
    }
}
