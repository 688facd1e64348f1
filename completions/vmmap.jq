# jq module for vmmap's JSON (vmmap-json(5)): addresses and sizes are
# "0x..." strings, which jq 1.6 cannot read as numbers.  Works with jq 1.6.
#
#   jq -L /usr/local/lib/jq 'import "vmmap" as v; v::regions' table.json
#
# jq keeps numbers as doubles: a value above 2^53 comes out rounded.  The
# strings stay exact; convert only what you compute with.

# "0x1f" -> 31.  Anything else passes through unchanged.
def hex2num:
  if type == "string" and test("^0[xX][0-9a-fA-F]+$") then
    .[2:] | ascii_downcase | explode
    | reduce .[] as $c (0; . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end))
  else . end;

# 31 -> "0x1f" (a non-negative integer up to 2^53).
def num2hex:
  if type != "number" or . < 0 or . != floor then
    error("num2hex: not a non-negative integer: \(.)")
  elif . == 0 then "0x0"
  else
    "0x" + ([recurse(if . >= 16 then (. / 16 | floor) else empty end) | . % 16]
            | reverse | map(if . < 10 then . + 48 else . + 87 end) | implode)
  end;

# Every "0x..." string in a value (an object, an array, deep), as a number.
def numbers: walk(hex2num);

# The regions of a table, a capture or show's output, with numeric
# guest_phys_addr, memory_size, userspace_addr, mmap_offset and the
# inclusive last addresses (last, ulast) added.
def regions:
  (if has("result") then .result else . end) | .memory.regions[]
  | (.guest_phys_addr, .memory_size, .userspace_addr, .mmap_offset) |= hex2num
  | .last = .guest_phys_addr + .memory_size - 1
  | .ulast = .userspace_addr + .memory_size - 1;
