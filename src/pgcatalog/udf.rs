//! A scalar function from a closure with any [`Signature`] (`create_udf` takes exact argument
//! types only; PostgreSQL functions have optional arguments and `any` parameters).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

type Body = Arc<dyn Fn(&[ColumnarValue]) -> Result<ColumnarValue> + Send + Sync>;

struct ClosureUdf {
    name: String,
    signature: Signature,
    return_type: DataType,
    body: Body,
}

impl fmt::Debug for ClosureUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClosureUdf")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for ClosureUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.body, &other.body)
    }
}

impl Eq for ClosureUdf {}

impl std::hash::Hash for ClosureUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for ClosureUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        (self.body)(&args.args)
    }
}

pub fn new(
    name: &str,
    signature: Signature,
    return_type: DataType,
    body: impl Fn(&[ColumnarValue]) -> Result<ColumnarValue> + Send + Sync + 'static,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(ClosureUdf {
        name: name.to_owned(),
        signature,
        return_type,
        body: Arc::new(body),
    })
}

/// A function's result in the shape of its arguments: one value when every argument was one
/// value (a constant folds), else a column.
pub fn shaped(args: &[ColumnarValue], out: ArrayRef) -> Result<ColumnarValue> {
    let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    Ok(match all_scalar {
        true => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
        false => ColumnarValue::Array(out),
    })
}
