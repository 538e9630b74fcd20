// Runs a single node on concrete tensors: infer output types from the actual inputs, allocate
// the outputs whose shapes are known, pick the first kernel candidate that accepts, execute.
// Used by constant folding (with reference kernels only), by the executor and by op tests.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "kernels/kernel.hpp"

namespace visionrt {

// Infers output types of `node` from concrete inputs (absent optional inputs are nullptr).
std::vector<TensorType> infer_node_types(const Node& node, int64_t opset,
                                         const std::vector<const Tensor*>& inputs);

// The compile-time view of `n` in `g` for kernel candidates: input/output types, constant
// inputs, and the layouts the graph's values carry.
KernelQuery query_for(const Graph& g, const Node& n);

// Picks a kernel; returns nullptr with *why listing every candidate's reason when none accepts.
// `only` restricts the choice to candidates of that name ("ref"), empty for any.
std::unique_ptr<Kernel> select_kernel(const KernelQuery& q, const std::string& only,
                                      std::string* chosen, std::string* why);

// Allocates outputs, runs `kernel`, checks data-dependent outputs were produced.
std::vector<Tensor> execute_node(Kernel& kernel, const Node& node, int64_t opset,
                                 const std::vector<const Tensor*>& inputs, int num_threads = 1);

// All of the above with the reference kernel (tests, constant folding).
std::vector<Tensor> run_node_ref(const Node& node, int64_t opset,
                                 const std::vector<const Tensor*>& inputs);

// Builds a Node for tests: outputs get placeholder ids 0..n_outputs-1.
Node make_node(const std::string& op, size_t n_inputs, size_t n_outputs,
               std::map<std::string, Attribute> attrs = {});

}  // namespace visionrt
