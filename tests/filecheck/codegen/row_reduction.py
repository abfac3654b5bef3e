# RUN: jitflow dump %s:row_sums --arg f32[64,1024] --stage llvm | filecheck %s --check-prefix LLVM
# RUN: jitflow dump %s:row_sums --arg f32[64,1024] --stage llvm-opt | filecheck %s --check-prefix OPT
# A row sum keeps one accumulator per output: set to the init value, a loop over the row's
# 1024 contiguous elements adds into it (reassociable, so the loop vectorizes into vector
# accumulators), and the sum is stored once at the end of the row.

import numpy as np


def row_sums(x):
    return np.sum(x, axis=1)


# LLVM-LABEL: define internal void @"jf_kernel0"
# LLVM:         %[[ACC:.+]] = alloca float
# LLVM:       col.body:
# LLVM:         store float %{{.+}}, {{.+}} %[[ACC]]
# LLVM:       r.body:
# LLVM:         %[[X:.+]] = load float, ptr
# LLVM-NEXT:    %[[OLD:.+]] = load float, {{.+}} %[[ACC]]
# LLVM-NEXT:    %[[NEW:.+]] = fadd reassoc float %[[OLD]], %[[X]]
# LLVM-NEXT:    store float %[[NEW]], {{.+}} %[[ACC]]
# LLVM:       r.done:
# LLVM-NEXT:    %[[SUM:.+]] = load float, {{.+}} %[[ACC]]
# LLVM:         store float %[[SUM]], ptr
# LLVM-NEXT:    %"col.next" = add

# OPT-LABEL: @jf_entry_objects(
# OPT:       vector.body:
# OPT:         %[[ACC:.+]] = phi <[[W:[0-9]+]] x float>
# OPT:         %[[X:.+]] = load <[[W]] x float>
# OPT:         fadd reassoc <[[W]] x float> %[[ACC]], %[[X]]
# OPT:         br i1 %{{.+}}, label %{{.+}}, label %vector.body
# OPT:         store float
