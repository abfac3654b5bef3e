# RUN: jitflow dump %s:matmul --arg f32[64,128] --arg f32[128,32] --stage llvm | filecheck %s
# A float32 dot calls OpenBLAS's sgemm (row-major, no transposes) on the operands' buffers:
# M rows of this kernel's share, N = 32, K = 128, alpha 1, beta 0, leading dimensions
# 128, 32 and 32.  No loop nest multiplies elements itself.


def matmul(x, w):
    return x @ w


# CHECK-LABEL: define internal void @"jf_kernel0"
# CHECK-NOT:     fmul
# CHECK:         call void @"scipy_cblas_sgemm"(i32 101, i32 111, i32 111,
# CHECK-SAME:      i32 %{{.+}}, i32 32, i32 128, float 0x3ff0000000000000,
# CHECK-SAME:      ptr %{{.+}}, i32 128, ptr %{{.+}}, i32 32, float {{ *}}0x0, ptr %{{.+}}, i32 32)
# CHECK-NOT:     fmul
# CHECK:       declare void @"scipy_cblas_sgemm"
