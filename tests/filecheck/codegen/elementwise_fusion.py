# RUN: jitflow dump %s:tanh_affine --arg f32[4096] --stage llvm | filecheck %s --check-prefix LLVM
# RUN: jitflow dump %s:tanh_affine --arg f32[4096] --stage llvm-opt | filecheck %s --check-prefix OPT
# An elementwise chain is one fusion, so one kernel: one loop over the 4096 elements whose
# body computes x * 2 + 1 and tanh inline (IR math, no libm call), which O3 vectorizes.

import numpy as np


def tanh_affine(x):
    return np.tanh(x * 2.0 + 1.0)


# LLVM-LABEL: define internal void @"jf_entry"
# LLVM-NEXT:  {
# LLVM-NEXT:  entry:
# LLVM-NEXT:    call void @"jf_kernel0"(ptr %{{.+}}, i64 0, i64 4096)
# LLVM-NEXT:    ret void
# LLVM-NEXT:  }
# LLVM-LABEL: define internal void @"jf_kernel0"
# LLVM:       col.body:
# LLVM:         %[[X:.+]] = load float, ptr
# LLVM:         %[[SCALED:.+]] = fmul float %[[X]], %{{.+}}
# LLVM:         %[[SHIFTED:.+]] = fadd float %[[SCALED]], %{{.+}}
# LLVM-NOT:     call float @"tanh
# LLVM:         fdiv float
# LLVM:         %[[Y:.+]] = call float @"llvm.copysign.f32"(float %{{.+}}, float %[[SHIFTED]])
# LLVM-NEXT:    %[[OUT:.+]] = getelementptr inbounds float, ptr %{{.+}}
# LLVM-NEXT:    store float %[[Y]], ptr %[[OUT]]
# LLVM-NOT:   @"jf_kernel1"
# LLVM-NOT:   tanh

# OPT-LABEL: @jf_entry_objects(
# OPT:       vector.body:
# OPT:         %[[X:.+]] = load <[[W:[0-9]+]] x float>
# OPT:         %[[SCALED:.+]] = fmul <[[W]] x float> %[[X]], {{.*}}2.000000e+00
# OPT:         fadd <[[W]] x float> %[[SCALED]], {{.*}}1.000000e+00
# OPT:         fdiv <[[W]] x float>
# OPT:         call <[[W]] x float> @llvm.copysign.v[[W]]f32(
# OPT:         store <[[W]] x float>
# OPT:         br i1 %{{.+}}, label %{{.+}}, label %vector.body
# OPT-NOT:   tanh
