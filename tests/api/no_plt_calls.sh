#!/usr/bin/env bash
# no_plt_calls.sh LIB: fail if LIB (libobmt-override.so) calls one of its own
# allocation functions through the PLT (calloc -> malloc, realloc -> free,
# the aligned paths -> malloc...): each such call costs an indirect jump, and
# would be routed to another malloc if something interposed it.
set -euo pipefail
lib=$1
calls=$(objdump -d --no-show-raw-insn "$lib" |
  grep -E '(call|jmp) +[0-9a-f]+ <obmt_(malloc|free|calloc|realloc|reallocarray|memalign|aligned_alloc|posix_memalign|valloc|pvalloc|usable_size)@plt>' || true)
if [ -n "$calls" ]; then
  echo "no_plt_calls: $lib calls its own allocation functions through the PLT:"
  echo "$calls"
  exit 1
fi
echo "no_plt_calls: no allocation function of $lib is called through the PLT"
