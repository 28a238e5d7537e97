//! A small interpreter for TF.js GRAPH models (`model.json` + `.bin`) on `candle-core`: the
//! node list is read from the JSON and run in topological order. It implements exactly the ops
//! the two presentation-attack networks of `@vladmandic/human@3.3.6` use (`antispoof`,
//! `liveness`): `_FusedConv2D` (BiasAdd [+ Relu], VALID/SAME), `MaxPool` (VALID), `Relu`,
//! `Reshape`, `_FusedMatMul` (BiasAdd [+ Relu]), `Mul`, `Add`/`AddV2`, `Sigmoid`, `Softmax`,
//! `Identity`. Anything else is refused at load time with [`LivenessError::UnsupportedOp`].
//!
//! Tensors stay in TF's NHWC layout between nodes (so `Reshape`/flatten keeps TF's element
//! order); convolutions and pooling permute to candle's NCHW and back.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine as _;
use candle_core::{DType, Tensor};
use serde::Deserialize;

use crate::error::LivenessError;

mod weights;

use self::weights::load_weights;

#[derive(Debug, Deserialize)]
struct ModelJson {
    format: Option<String>,
    #[serde(rename = "modelTopology")]
    topology: Topology,
    #[serde(rename = "weightsManifest")]
    manifest: Vec<ManifestGroup>,
    signature: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Topology {
    node: Vec<NodeJson>,
}

#[derive(Debug, Deserialize)]
struct NodeJson {
    name: String,
    op: String,
    #[serde(default)]
    input: Vec<String>,
    #[serde(default)]
    attr: HashMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ManifestGroup {
    paths: Vec<String>,
    weights: Vec<WeightSpec>,
}

#[derive(Debug, Deserialize)]
struct WeightSpec {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
struct Quantization {
    dtype: String,
    scale: Option<f32>,
    min: Option<f32>,
}

/// Padding of a convolution or pooling node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Padding {
    Valid,
    Same,
}

#[derive(Debug, Clone)]
enum Op {
    Placeholder,
    Const(Tensor),
    /// Fused conv: input, kernel (HWIO), bias; stride; padding; relu after the bias.
    FusedConv {
        stride: (usize, usize),
        padding: Padding,
        relu: bool,
    },
    MaxPool {
        ksize: (usize, usize),
        stride: (usize, usize),
    },
    Relu,
    Reshape,
    FusedMatMul {
        relu: bool,
    },
    Mul,
    Add,
    Sigmoid,
    Softmax,
    Identity,
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    op: Op,
    inputs: Vec<usize>,
}

/// A loaded TF.js graph model with one image input (NHWC, f32) and one output.
#[derive(Debug, Clone)]
pub struct GraphModel {
    /// Nodes in execution order (every input precedes its user).
    nodes: Vec<Node>,
    output: usize,
    input_hw: (usize, usize),
}

fn corrupt(path: &Path, reason: impl Into<String>) -> LivenessError {
    LivenessError::ModelCorrupt { path: path.to_path_buf(), reason: reason.into() }
}

fn attr_str(node: &NodeJson, key: &str) -> Option<String> {
    let s = node.attr.get(key)?.get("s")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    String::from_utf8(bytes).ok()
}

fn attr_str_list(node: &NodeJson, key: &str) -> Vec<String> {
    let Some(list) = node.attr.get(key).and_then(|a| a.get("list")).and_then(|l| l.get("s")).and_then(|s| s.as_array())
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|v| v.as_str())
        .filter_map(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .filter_map(|b| String::from_utf8(b).ok())
        .collect()
}

fn attr_int_list(node: &NodeJson, key: &str) -> Vec<usize> {
    let Some(list) = node.attr.get(key).and_then(|a| a.get("list")).and_then(|l| l.get("i")).and_then(|s| s.as_array())
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|v| match v {
            serde_json::Value::String(s) => s.parse().ok(),
            serde_json::Value::Number(n) => n.as_u64().map(|n| n as usize),
            _ => None,
        })
        .collect()
}

fn padding_of(node: &NodeJson, path: &Path) -> Result<Padding, LivenessError> {
    match attr_str(node, "padding").as_deref() {
        Some("VALID") => Ok(Padding::Valid),
        Some("SAME") => Ok(Padding::Same),
        other => Err(corrupt(path, format!("node {}: padding {other:?} not supported", node.name))),
    }
}

fn pair(v: &[usize], node: &NodeJson, key: &str, path: &Path) -> Result<(usize, usize), LivenessError> {
    // NHWC lists: [1, h, w, 1].
    match v {
        [1, h, w, 1] if *h > 0 && *w > 0 => Ok((*h, *w)),
        _ => Err(corrupt(path, format!("node {}: {key} {v:?} not supported (NHWC, batch/channel 1)", node.name))),
    }
}

impl GraphModel {
    /// Loads `<dir>/<name>.json` and the weight files its manifest names.
    pub fn load(dir: &Path, name: &str) -> Result<Self, LivenessError> {
        let path = dir.join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .map_err(|source| LivenessError::ModelMissing { path: path.clone(), source })?;
        let json: ModelJson =
            serde_json::from_str(&text).map_err(|e| corrupt(&path, format!("not a TF.js model.json: {e}")))?;
        if json.format.as_deref() != Some("graph-model") {
            return Err(corrupt(&path, format!("format {:?}, expected \"graph-model\"", json.format)));
        }
        let weights = load_weights(dir, &path, &json.manifest)?;
        Self::build(&path, json, weights)
    }

    fn build(path: &Path, json: ModelJson, mut weights: HashMap<String, Tensor>) -> Result<Self, LivenessError> {
        let index: HashMap<&str, usize> =
            json.topology.node.iter().enumerate().map(|(i, n)| (n.name.as_str(), i)).collect();
        // Resolve inputs ("name", "name:0"; control inputs "^name" are ignored).
        let mut input_ids: Vec<Vec<usize>> = Vec::with_capacity(json.topology.node.len());
        for n in &json.topology.node {
            let mut ids = Vec::new();
            for i in &n.input {
                if i.starts_with('^') {
                    continue;
                }
                let base = i.split(':').next().unwrap_or(i);
                let id = index
                    .get(base)
                    .copied()
                    .ok_or_else(|| corrupt(path, format!("node {} reads unknown {i}", n.name)))?;
                ids.push(id);
            }
            input_ids.push(ids);
        }
        let output_name = json
            .signature
            .as_ref()
            .and_then(|s| s.get("outputs"))
            .and_then(|o| o.as_object())
            .and_then(|o| o.values().next())
            .and_then(|v| v.get("name"))
            .and_then(|n| n.as_str())
            .map(|n| n.split(':').next().unwrap_or(n).to_string())
            .unwrap_or_else(|| "Identity".to_string());
        let out = *index
            .get(output_name.as_str())
            .ok_or_else(|| corrupt(path, format!("output node {output_name} missing")))?;

        // Topological order by depth-first search from the output (iterative; detects cycles).
        let n = json.topology.node.len();
        let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
        let mut order = Vec::new();
        let mut stack = vec![(out, 0usize)];
        while let Some((id, next)) = stack.pop() {
            if next == 0 {
                if state[id] == 2 {
                    continue;
                }
                state[id] = 1;
            }
            if let Some(&child) = input_ids[id].get(next) {
                stack.push((id, next + 1));
                match state[child] {
                    0 => stack.push((child, 0)),
                    1 => return Err(corrupt(path, "the graph has a cycle")),
                    _ => {}
                }
            } else {
                state[id] = 2;
                order.push(id);
            }
        }

        let mut position = vec![usize::MAX; n];
        let mut nodes = Vec::with_capacity(order.len());
        let mut input_hw = None;
        for &id in &order {
            let nj = &json.topology.node[id];
            let fused = attr_str_list(nj, "fused_ops");
            let fused_ok = |relu_allowed: bool| -> Result<bool, LivenessError> {
                match fused.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                    ["BiasAdd"] => Ok(false),
                    ["BiasAdd", "Relu"] if relu_allowed => Ok(true),
                    other => Err(LivenessError::UnsupportedOp {
                        path: path.to_path_buf(),
                        op: format!("{} fused {other:?}", nj.op),
                        node: nj.name.clone(),
                    }),
                }
            };
            let op = match nj.op.as_str() {
                "Placeholder" => {
                    let dims = shape_of_placeholder(&json.signature, &nj.name);
                    input_hw = match dims.as_slice() {
                        [_, h, w, 3] if *h > 0 && *w > 0 => Some((*h as usize, *w as usize)),
                        _ => {
                            return Err(corrupt(
                                path,
                                format!("input {} has shape {dims:?}, expected [-1, h, w, 3]", nj.name),
                            ));
                        }
                    };
                    Op::Placeholder
                }
                "Const" => Op::Const(
                    weights
                        .remove(&nj.name)
                        .ok_or_else(|| corrupt(path, format!("no weights for const {}", nj.name)))?,
                ),
                "_FusedConv2D" => {
                    let strides = attr_int_list(nj, "strides");
                    let dil = attr_int_list(nj, "dilations");
                    if !dil.is_empty() && dil.iter().any(|&d| d != 1) {
                        return Err(corrupt(path, format!("node {}: dilations {dil:?} not supported", nj.name)));
                    }
                    if attr_str(nj, "data_format").as_deref().is_some_and(|f| f != "NHWC") {
                        return Err(corrupt(path, format!("node {}: data format not NHWC", nj.name)));
                    }
                    Op::FusedConv {
                        stride: pair(&strides, nj, "strides", path)?,
                        padding: padding_of(nj, path)?,
                        relu: fused_ok(true)?,
                    }
                }
                "MaxPool" => {
                    if padding_of(nj, path)? != Padding::Valid {
                        return Err(corrupt(path, format!("node {}: SAME max pooling not supported", nj.name)));
                    }
                    Op::MaxPool {
                        ksize: pair(&attr_int_list(nj, "ksize"), nj, "ksize", path)?,
                        stride: pair(&attr_int_list(nj, "strides"), nj, "strides", path)?,
                    }
                }
                "Relu" => Op::Relu,
                "Reshape" => Op::Reshape,
                "_FusedMatMul" => {
                    let flag =
                        |k: &str| nj.attr.get(k).and_then(|a| a.get("b")).and_then(|b| b.as_bool()).unwrap_or(false);
                    if flag("transpose_a") || flag("transpose_b") {
                        return Err(corrupt(path, format!("node {}: transposed matmul not supported", nj.name)));
                    }
                    Op::FusedMatMul { relu: fused_ok(true)? }
                }
                "Mul" => Op::Mul,
                "Add" | "AddV2" => Op::Add,
                "Sigmoid" => Op::Sigmoid,
                "Softmax" => Op::Softmax,
                "Identity" => Op::Identity,
                other => {
                    return Err(LivenessError::UnsupportedOp {
                        path: path.to_path_buf(),
                        op: other.to_string(),
                        node: nj.name.clone(),
                    });
                }
            };
            let arity = match op {
                Op::Placeholder | Op::Const(_) => 0,
                Op::Relu | Op::Sigmoid | Op::Softmax | Op::Identity | Op::MaxPool { .. } => 1,
                Op::Reshape | Op::Mul | Op::Add => 2,
                Op::FusedConv { .. } | Op::FusedMatMul { .. } => 3,
            };
            if input_ids[id].len() != arity {
                return Err(corrupt(
                    path,
                    format!("node {} ({}) has {} inputs, expected {arity}", nj.name, nj.op, input_ids[id].len()),
                ));
            }
            position[id] = nodes.len();
            nodes.push(Node {
                name: nj.name.clone(),
                op,
                inputs: input_ids[id].iter().map(|&i| position[i]).collect(),
            });
        }
        let input_hw = input_hw.ok_or_else(|| corrupt(path, "the output does not depend on an input placeholder"))?;
        let output = nodes.len().checked_sub(1).ok_or_else(|| corrupt(path, "empty graph"))?;
        tracing::debug!(model = %path.display(), nodes = nodes.len(), ?input_hw, "graph model loaded");
        Ok(Self { nodes, output, input_hw })
    }

    /// The input's `(height, width)`.
    pub fn input_hw(&self) -> (usize, usize) {
        self.input_hw
    }

    /// Runs the graph on an NHWC f32 batch `[n, h, w, 3]`; returns the output tensor.
    pub fn run(&self, input: &Tensor) -> Result<Tensor, LivenessError> {
        let mut values = self.run_all(input)?;
        values
            .get_mut(self.output)
            .and_then(Option::take)
            .map(|(_, t)| t)
            .ok_or_else(|| LivenessError::InvalidInput("output not computed".into()))
    }

    /// Every node's value (name, tensor) in execution order, for comparing layer by layer
    /// with the original runtime.
    pub fn node_outputs(&self, input: &Tensor) -> Result<Vec<(String, Tensor)>, LivenessError> {
        Ok(self.run_all(input)?.into_iter().flatten().collect())
    }

    fn run_all(&self, input: &Tensor) -> Result<Vec<Option<(String, Tensor)>>, LivenessError> {
        let (h, w) = self.input_hw;
        match input.dims() {
            [_, ih, iw, 3] if *ih == h && *iw == w => {}
            d => {
                return Err(LivenessError::InvalidInput(format!("input shape {d:?}, expected [n, {h}, {w}, 3]")));
            }
        }
        let mut values: Vec<Option<(String, Tensor)>> = vec![None; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            let arg =
                |k: usize| -> Result<&Tensor, LivenessError> {
                    node.inputs.get(k).and_then(|&j| values.get(j)).and_then(Option::as_ref).map(|(_, t)| t).ok_or_else(
                        || LivenessError::InvalidInput(format!("node {} input {k} not computed", node.name)),
                    )
                };
            let v = match &node.op {
                Op::Placeholder => input.clone(),
                Op::Const(t) => t.clone(),
                Op::FusedConv { stride, padding, relu } => {
                    let kernel = arg(1)?; // HWIO
                    let (kh, kw) = (kernel.dim(0)?, kernel.dim(1)?);
                    if stride.0 != stride.1 || kh != kw {
                        return Err(LivenessError::InvalidInput(format!("node {}: non-square conv", node.name)));
                    }
                    let pad = match padding {
                        Padding::Valid => 0,
                        Padding::Same if kh % 2 == 1 && stride.0 == 1 => kh / 2,
                        Padding::Same => {
                            return Err(LivenessError::InvalidInput(format!(
                                "node {}: SAME padding with even kernel/stride",
                                node.name
                            )));
                        }
                    };
                    // Explicit zero padding: candle's padded conv2d gave different values
                    // than TF.js on the 16×16×16 → 32 SAME layer of `liveness` (measured).
                    let mut x = arg(0)?.permute((0, 3, 1, 2))?.contiguous()?;
                    if pad > 0 {
                        x = x.pad_with_zeros(2, pad, pad)?.pad_with_zeros(3, pad, pad)?.contiguous()?;
                    }
                    let k = kernel.permute((3, 2, 0, 1))?.contiguous()?;
                    let y = x.conv2d(&k, 0, stride.0, 1, 1)?.permute((0, 2, 3, 1))?;
                    let y = y.broadcast_add(arg(2)?)?;
                    if *relu { y.relu()? } else { y }
                }
                Op::MaxPool { ksize, stride } => {
                    let x = arg(0)?.permute((0, 3, 1, 2))?.contiguous()?;
                    x.max_pool2d_with_stride(*ksize, *stride)?.permute((0, 2, 3, 1))?
                }
                Op::Relu => arg(0)?.relu()?,
                Op::Reshape => {
                    let x = arg(0)?.contiguous()?;
                    let spec: Vec<i64> = arg(1)?.to_dtype(DType::I64)?.flatten_all()?.to_vec1()?;
                    let total = x.elem_count();
                    let known: usize = spec.iter().filter(|&&d| d >= 0).map(|&d| d as usize).product();
                    let dims: Vec<usize> = spec
                        .iter()
                        .map(|&d| if d < 0 { total.checked_div(known).unwrap_or(0) } else { d as usize })
                        .collect();
                    x.reshape(dims)?
                }
                Op::FusedMatMul { relu } => {
                    let y = arg(0)?.matmul(arg(1)?)?.broadcast_add(arg(2)?)?;
                    if *relu { y.relu()? } else { y }
                }
                Op::Mul => arg(0)?.broadcast_mul(arg(1)?)?,
                Op::Add => arg(0)?.broadcast_add(arg(1)?)?,
                Op::Sigmoid => {
                    let x = arg(0)?;
                    (x.neg()?.exp()? + 1.0)?.recip()?
                }
                Op::Softmax => {
                    let x = arg(0)?;
                    let last = x.rank().saturating_sub(1);
                    let m = x.max_keepdim(last)?;
                    let e = x.broadcast_sub(&m)?.exp()?;
                    e.broadcast_div(&e.sum_keepdim(last)?)?
                }
                Op::Identity => arg(0)?.clone(),
            };
            values[i] = Some((node.name.clone(), v));
        }
        Ok(values)
    }
}

fn shape_of_placeholder(signature: &Option<serde_json::Value>, name: &str) -> Vec<i64> {
    let Some(inputs) = signature.as_ref().and_then(|s| s.get("inputs")).and_then(|i| i.as_object()) else {
        return Vec::new();
    };
    for v in inputs.values() {
        let n = v.get("name").and_then(|n| n.as_str()).unwrap_or_default();
        if n.split(':').next() == Some(name) {
            let dims = v.get("tensorShape").and_then(|t| t.get("dim")).and_then(|d| d.as_array());
            return dims
                .map(|d| {
                    d.iter()
                        .map(|x| x.get("size").and_then(|s| s.as_str()).and_then(|s| s.parse().ok()).unwrap_or(-1))
                        .collect()
                })
                .unwrap_or_default();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use candle_core::Device;

    use super::weights::f16_to_f32;
    use super::*;

    #[test]
    fn half_floats_decode() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7c01).is_nan());
    }

    fn tiny_model(dir: &Path, nodes: &str, weights: &str, bin: &[u8]) {
        let json = format!(
            r#"{{"format":"graph-model","signature":{{"inputs":{{"x":{{"name":"x:0","tensorShape":{{"dim":[{{"size":"-1"}},{{"size":"2"}},{{"size":"2"}},{{"size":"3"}}]}}}}}},"outputs":{{"y":{{"name":"Identity:0"}}}}}},
            "modelTopology":{{"node":[{nodes}]}},"weightsManifest":[{{"paths":["t.bin"],"weights":[{weights}]}}]}}"#
        );
        std::fs::write(dir.join("t.json"), json).expect("write json");
        std::fs::write(dir.join("t.bin"), bin).expect("write bin");
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("realname-liveness-graph-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn a_hand_built_graph_runs_conv_pool_flatten_matmul_sigmoid() -> Result<(), LivenessError> {
        let dir = temp_dir("ok");
        // conv 1x1 (3 -> 1, weights 1,2,3, bias 0.5), maxpool 2x2, flatten to [-1, 1], matmul 2, sigmoid.
        let nodes = r#"{"name":"x","op":"Placeholder"},{"name":"k","op":"Const"},{"name":"b","op":"Const"},{"name":"s","op":"Const"},{"name":"m","op":"Const"},{"name":"mb","op":"Const"},
            {"name":"c","op":"_FusedConv2D","input":["x","k","b"],"attr":{"padding":{"s":"VkFMSUQ="},"strides":{"list":{"i":["1","1","1","1"]}},"fused_ops":{"list":{"s":["Qmlhc0FkZA=="]}}}},
            {"name":"p","op":"MaxPool","input":["c"],"attr":{"padding":{"s":"VkFMSUQ="},"ksize":{"list":{"i":["1","2","2","1"]}},"strides":{"list":{"i":["1","2","2","1"]}}}},
            {"name":"r","op":"Reshape","input":["p","s"]},
            {"name":"f","op":"_FusedMatMul","input":["r","m","mb"],"attr":{"fused_ops":{"list":{"s":["Qmlhc0FkZA=="]}}}},
            {"name":"g","op":"Sigmoid","input":["f"]},{"name":"Identity","op":"Identity","input":["g"]}"#;
        let weights = r#"{"name":"k","shape":[1,1,3,1],"dtype":"float32"},{"name":"b","shape":[1],"dtype":"float32"},{"name":"s","shape":[2],"dtype":"int32"},{"name":"m","shape":[1,1],"dtype":"float32"},{"name":"mb","shape":[1],"dtype":"float32"}"#;
        let mut bin = Vec::new();
        for v in [1.0f32, 2.0, 3.0, 0.5] {
            bin.extend_from_slice(&v.to_le_bytes());
        }
        for v in [-1i32, 1] {
            bin.extend_from_slice(&v.to_le_bytes());
        }
        for v in [2.0f32, -4.0] {
            bin.extend_from_slice(&v.to_le_bytes());
        }
        tiny_model(&dir, nodes, weights, &bin);
        let model = GraphModel::load(&dir, "t")?;
        assert_eq!(model.input_hw(), (2, 2));
        // pixel (r,g,b) = i * (0.1, 0.1, 0.1) for i = 0..4 → conv = 0.6 i + 0.5; max at i = 3 → 2.3.
        let data: Vec<f32> = (0..4).flat_map(|i| [0.1 * i as f32; 3]).collect();
        let x = Tensor::from_vec(data, (1, 2, 2, 3), &Device::Cpu)?;
        let y: Vec<f32> = model.run(&x)?.flatten_all()?.to_vec1()?;
        let expected = 1.0 / (1.0 + (-(2.3f32 * 2.0 - 4.0)).exp());
        assert!((y[0] - expected).abs() < 1e-5, "{y:?} vs {expected}");
        // A truncated weight file is named as corrupt.
        std::fs::write(dir.join("t.bin"), &bin[..bin.len() - 4]).expect("truncate");
        let err = GraphModel::load(&dir, "t").expect_err("truncated weights must fail");
        assert!(matches!(err, LivenessError::ModelCorrupt { .. }), "{err}");
        // An op the interpreter does not know is refused at load time.
        tiny_model(&dir, &nodes.replace("\"op\":\"Sigmoid\"", "\"op\":\"Tanh\""), weights, &bin);
        let err = GraphModel::load(&dir, "t").expect_err("unknown op must fail");
        assert!(matches!(err, LivenessError::UnsupportedOp { ref op, .. } if op == "Tanh"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn missing_and_garbage_files_are_clear_errors() {
        let dir = temp_dir("bad");
        let err = GraphModel::load(&dir, "absent").expect_err("missing");
        assert!(matches!(err, LivenessError::ModelMissing { .. }) && err.to_string().contains("absent.json"), "{err}");
        std::fs::write(dir.join("junk.json"), "{not json").expect("write");
        let err = GraphModel::load(&dir, "junk").expect_err("garbage");
        assert!(matches!(err, LivenessError::ModelCorrupt { .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
