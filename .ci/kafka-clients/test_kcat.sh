#!/usr/bin/env bash
# kcat (librdkafka) against a ringlog broker's Kafka listener: metadata (-L), produce with
# keys and headers (-P -K: -H), consume in order (-C -o beginning -e -f), every codec (-z),
# every acks, offsets by timestamp (-Q, -o s@). kcat cannot create topics: the broker must
# create them when first named (auto_create_topics_enable, num_partitions = 1).
#
# Usage: test_kcat.sh HOST:PORT. Each kcat runs under `timeout`; a failed step is reported and
# the next one runs; the exit status is 1 if any failed.
set -euo pipefail
bootstrap="${1:?usage: test_kcat.sh HOST:PORT}"
run_id="$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')"

kcat_() {
  timeout 20 kcat -b "$bootstrap" -X socket.timeout.ms=10000 "$@"
}

# Ends the step (each runs in a subshell) with a failure.
fail() {
  echo "FAIL kcat $step: $*"
  exit 1
}

# Compares $2 (what came) with $3 (what was expected) for check $1.
expect() {
  if [ "$2" != "$3" ]; then
    diff <(printf '%s\n' "$3") <(printf '%s\n' "$2") | head -n 20 || true
    fail "$1: the output differs (< expected, > got)"
  fi
}

# The lines key:value of messages `from` ..< `to` tagged $1.
lines() {
  local i
  for ((i = $2; i < $3; i++)); do echo "key-$((i % 5)):$1 value $i with spaces"; done
}

produce_with_keys_and_headers_then_consume_in_order() {
  local topic="kcat-order-$run_id" got want i
  lines order 0 50 | kcat_ -P -t "$topic" -p 0 -K: -H trace=abc -H "seq=one" -H "seq=two" \
    -X acks=all || fail "kcat -P exited $?"
  got="$(kcat_ -C -t "$topic" -p 0 -o beginning -e -q -f '%o|%k|%s|%h\n')" \
    || fail "kcat -C exited $?"
  want="$(for ((i = 0; i < 50; i++)); do
    echo "$i|key-$((i % 5))|order value $i with spaces|trace=abc,seq=one,seq=two"
  done)"
  expect "read back" "$got" "$want"
}

metadata_lists_broker_and_topics() {
  local topic="kcat-meta-$run_id" metadata listing
  echo "k:v" | kcat_ -P -t "$topic" -p 0 -K: || fail "kcat -P exited $?"
  metadata="$(kcat_ -L -J)" || fail "kcat -L -J exited $?"
  echo "$metadata" | grep -Eq "\"name\":\"${bootstrap}(/[0-9]+)?\"" \
    || fail "the broker $bootstrap is not in kcat -L -J: $metadata"
  echo "$metadata" | grep -q "\"topic\":\"$topic\"" || fail "$topic is not in kcat -L -J: $metadata"
  listing="$(kcat_ -L -t "$topic")" || fail "kcat -L -t exited $?"
  echo "$listing" | grep -q " 1 brokers:" || fail "kcat -L: $listing"
  echo "$listing" | grep -Eq "partition 0, leader [0-9]+, replicas: [0-9]+, isrs: [0-9]+" \
    || fail "kcat -L -t $topic shows no leader for partition 0: $listing"
}

codec() {
  local codec="$1" topic="kcat-$1-$run_id" got
  lines "$codec" 0 200 | kcat_ -P -t "$topic" -p 0 -K: -z "$codec" -H "codec=$codec" \
    -X linger.ms=20 || fail "kcat -P -z $codec exited $?"
  got="$(kcat_ -C -t "$topic" -p 0 -o beginning -e -q -f '%k:%s|%h\n')" || fail "kcat -C exited $?"
  expect "read back" "$got" "$(lines "$codec" 0 200 | sed "s/\$/|codec=$codec/")"
}

acks() {
  local acks="$1" topic="kcat-acks-$1-$run_id" got
  lines "acks$acks" 0 20 | kcat_ -P -t "$topic" -p 0 -K: -X "acks=$acks" \
    || fail "kcat -P acks=$acks exited $?"
  got="$(kcat_ -C -t "$topic" -p 0 -o beginning -e -q -f '%k:%s\n')" || fail "kcat -C exited $?"
  expect "read back" "$got" "$(lines "acks$acks" 0 20)"
}

null_key_and_empty_value() {
  local topic="kcat-null-$run_id" got
  # -Z: an empty key or value is sent as null; %K and %S print a null's length as -1.
  printf ':no key\nk:\n' | kcat_ -P -t "$topic" -p 0 -K: -Z || fail "kcat -P -Z exited $?"
  got="$(kcat_ -C -t "$topic" -p 0 -o beginning -e -q -f '%K %S|%k|%s\n')" \
    || fail "kcat -C exited $?"
  expect "read back" "$got" "$(printf '%s\n' '-1 6||no key' '1 -1|k|')"
}

offsets_by_timestamp() {
  local topic="kcat-time-$run_id" stamps got times
  lines early 0 5 | kcat_ -P -t "$topic" -p 0 -K: || fail "kcat -P exited $?"
  sleep 0.3
  lines late 5 10 | kcat_ -P -t "$topic" -p 0 -K: || fail "kcat -P exited $?"
  stamps="$(kcat_ -C -t "$topic" -p 0 -o beginning -e -q -f '%T\n')" || fail "kcat -C exited $?"
  mapfile -t times <<<"$stamps"
  [ "${#times[@]}" -eq 10 ] || fail "10 timestamps wanted: $stamps"
  [ "${times[5]}" -gt "${times[4]}" ] || fail "the later messages have no later time: $stamps"
  got="$(kcat_ -Q -t "$topic:0:${times[5]}")" || fail "kcat -Q exited $?"
  expect "-Q at the 6th message's time" "$got" "$topic [0] offset 5"
  got="$(kcat_ -Q -t "$topic:0:$((times[4] + 1))")" || fail "kcat -Q exited $?"
  expect "-Q between the two batches" "$got" "$topic [0] offset 5"
  got="$(kcat_ -Q -t "$topic:0:0")" || fail "kcat -Q exited $?"
  expect "-Q before the first" "$got" "$topic [0] offset 0"
  got="$(kcat_ -Q -t "$topic:0:$((times[9] + 60000))")" || fail "kcat -Q exited $?"
  expect "-Q after the last (none: -1)" "$got" "$topic [0] offset -1"
  got="$(kcat_ -C -t "$topic" -p 0 -o "s@${times[5]}" -e -q -f '%o %s\n')" \
    || fail "kcat -C -o s@ exited $?"
  expect "-C from the 6th message's time" "$got" \
    "$(for i in 5 6 7 8 9; do echo "$i late value $i with spaces"; done)"
}

relative_offsets_and_count() {
  local topic="kcat-relative-$run_id" got
  lines relative 0 10 | kcat_ -P -t "$topic" -p 0 -K: || fail "kcat -P exited $?"
  got="$(kcat_ -C -t "$topic" -p 0 -o -3 -e -q -f '%o\n')" || fail "kcat -C -o -3 exited $?"
  expect "-o -3" "$got" "$(printf '%s\n' 7 8 9)"
  got="$(kcat_ -C -t "$topic" -p 0 -o 2 -c 2 -q -f '%o\n')" || fail "kcat -C -o 2 -c 2 exited $?"
  expect "-o 2 -c 2" "$got" "$(printf '%s\n' 2 3)"
}

steps=(
  produce_with_keys_and_headers_then_consume_in_order
  metadata_lists_broker_and_topics
  "codec none" "codec gzip" "codec snappy" "codec lz4" "codec zstd"
  "acks 0" "acks 1" "acks all"
  null_key_and_empty_value
  offsets_by_timestamp
  relative_offsets_and_count
)
passed=0
failed=()
for step in "${steps[@]}"; do
  started=$SECONDS
  # A subshell per step: `fail` ends the step, not the script. $step is a function and its
  # arguments.
  # shellcheck disable=SC2086
  if (set -e; $step); then
    passed=$((passed + 1))
    echo "ok   kcat $step ($((SECONDS - started)) s)"
  else
    failed+=("$step")
  fi
done
echo "kcat: $passed passed, ${#failed[@]} failed"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "kcat: failed: $(IFS=,; echo "${failed[*]}")"
  exit 1
fi
