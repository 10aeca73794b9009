#!/usr/bin/env bash
# Runs the grpcurl examples of README.md against a running `casework serve --demo`, and
# checks that README.md shows exactly these commands.
#
#   .ci/readme-examples.sh PORT GRPCURL TOKEN CASEWORK DATABASE_URL
#
# PORT: the server's port on 127.0.0.1; GRPCURL: path of the grpcurl binary; TOKEN: an admin
# token (`casework token --sub admin@example.com --role admin`); CASEWORK: the casework binary
# (the examples mint an agent token with it); DATABASE_URL: the server's database (so that
# `casework token` finds the server's secret). Needs jq. Fails on the first
# example that fails.
set -euo pipefail

if [ $# -ne 5 ]; then
  echo "usage: $0 PORT GRPCURL TOKEN CASEWORK DATABASE_URL" >&2
  exit 2
fi
PORT=$1
GRPCURL=$2
TOKEN=$3
CASEWORK=$4
export CASEWORK_DATABASE_URL=$5
here=$(cd "$(dirname "$0")" && pwd)
readme="$here/../README.md"

# The README talks to the default address; point it at the server under test.
grpcurl() {
  local args=()
  for arg in "$@"; do
    if [ "$arg" = localhost:50051 ]; then
      arg="127.0.0.1:$PORT"
    fi
    args+=("$arg")
  done
  "$GRPCURL" "${args[@]}"
}

# curl too: `localhost:50051` in a URL is the server under test.
curl() {
  local args=()
  for arg in "$@"; do
    args+=("${arg/localhost:50051/127.0.0.1:$PORT}")
  done
  command curl "${args[@]}"
}

# `casework` in the examples is the binary under test.
casework() {
  "$CASEWORK" "$@"
}

# Every line between the markers must appear, as a whole line, in README.md.
missing=0
while IFS= read -r line; do
  [ -n "$line" ] || continue
  if ! grep -qxF -- "$line" "$readme"; then
    echo "README.md lacks this example line: $line" >&2
    missing=1
  fi
done < <(sed -n '/^# --- examples: begin ---$/,/^# --- examples: end ---$/p' "$0" | sed '1d;$d')
[ "$missing" = 0 ] || exit 1

# --- examples: begin ---
# Services (reflection: no proto files needed) and health (no token needed)
grpcurl -plaintext localhost:50051 list
grpcurl -plaintext -d '{"service": "casework.v1.TicketService"}' localhost:50051 grpc.health.v1.Health/Check

# Create a chat ticket for customer cust-1; keep its id and number
CREATED=$(grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d '{"queue": "chat-sg-en", "channel": "chat", "subject": "Where is my order?", "priority": 2, "customer": {"id": "cust-1", "name": "Hugo Dan"}}' \
  localhost:50051 casework.v1.TicketService/CreateTicket)
echo "$CREATED"
TICKET_ID=$(jq -r .ticket.id <<<"$CREATED")
NUMBER=$(jq -r .ticket.number <<<"$CREATED")

# Get it by number (what people say on the phone)
grpcurl -plaintext -H "authorization: bearer $TOKEN" -d "{\"number\": $NUMBER}" \
  localhost:50051 casework.v1.TicketService/GetTicket

# List the waiting tickets of the queue, with the total count
grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d '{"filter": {"queues": ["chat-sg-en"], "statuses": ["TICKET_STATUS_CREATED"]}, "page_size": 10, "include_total_size": true}' \
  localhost:50051 casework.v1.TicketService/ListTickets

# Assign it to an agent, then close it
grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d "{\"ticket_id\": \"$TICKET_ID\", \"agent_id\": \"agent@example.com\"}" \
  localhost:50051 casework.v1.TicketService/AssignTicket
grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d "{\"ticket_id\": \"$TICKET_ID\", \"resolution_status\": \"RESOLUTION_STATUS_NO_ACTION\", \"resolution_reason\": \"order arrived\"}" \
  localhost:50051 casework.v1.TicketService/CloseTicket

# Its audit trail: CREATED, ASSIGNED, CLOSED
grpcurl -plaintext -H "authorization: bearer $TOKEN" -d "{\"ticket_id\": \"$TICKET_ID\"}" \
  localhost:50051 casework.v1.TicketService/ListTicketEvents

# An admin sets an agent's queues, languages and capacity, and adds a status that receives tickets
grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d '{"agent": {"id": "agent@example.com", "name": "Ada Agent", "role": "AGENT_ROLE_AGENT", "queues": ["chat-sg-en", "email-sg-en"], "languages": ["en"], "max_concurrent": 5}}' \
  localhost:50051 casework.v1.AgentService/UpsertAgent
grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d '{"status": {"name": "overflow", "alias": "Overflow", "receives_tickets": true}}' \
  localhost:50051 casework.v1.AgentService/UpsertStatus

# The agent comes online: waiting tickets it fits are routed to it from now on
AGENT_TOKEN=$(casework token --sub agent@example.com --role agent)
grpcurl -plaintext -H "authorization: bearer $AGENT_TOKEN" -d '{"status": "online"}' \
  localhost:50051 casework.v1.AgentService/SetStatus
ROUTED=$(grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d '{"queue": "chat-sg-en", "channel": "chat", "subject": "Card declined", "customer": {"id": "cust-2"}}' \
  localhost:50051 casework.v1.TicketService/CreateTicket)
jq -r .ticket.assignee <<<"$ROUTED"
grpcurl -plaintext -H "authorization: bearer $AGENT_TOKEN" -d '{}' \
  localhost:50051 casework.v1.AgentService/ListMyTickets

# The customer writes in the ticket's room (through a chat gateway acting for it); the agent answers
ROOM_ID=$(jq -r .ticket.metadata.roomId <<<"$ROUTED")
GATEWAY_TOKEN=$(casework token --sub chat-gateway --role service)
grpcurl -plaintext -H "authorization: bearer $GATEWAY_TOKEN" -H "x-customer-id: cust-2" \
  -d "{\"room_id\": \"$ROOM_ID\", \"client_message_id\": \"wa-1\", \"body\": \"My card was declined\"}" \
  localhost:50051 casework.v1.ConversationService/SendMessage
grpcurl -plaintext -H "authorization: bearer $AGENT_TOKEN" \
  -d "{\"room_id\": \"$ROOM_ID\", \"body\": \"Let me check that for you.\"}" \
  localhost:50051 casework.v1.ConversationService/SendMessage
grpcurl -plaintext -H "authorization: bearer $AGENT_TOKEN" -d "{\"room_id\": \"$ROOM_ID\"}" \
  localhost:50051 casework.v1.ConversationService/ListMessages

# Contact reasons: search in German, accents and case ignored
grpcurl -plaintext -H "authorization: bearer $TOKEN" -d '{"query": "ruckerstattung", "language": "de"}' \
  localhost:50051 casework.v1.CcrService/SearchCcr

# SLA: the demo's chat policies, a policy with business hours, a ticket's live SLA state and
# metrics, the open tickets that missed a target, and a week's report by queue (also as CSV)
grpcurl -plaintext -H "authorization: bearer $TOKEN" -d '{"queue": "chat-sg-en"}' \
  localhost:50051 casework.v1.ReportService/ListSlaPolicies
grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d '{"policy": {"queue": "email-sg-en", "severity": "SEVERITY_HIGH", "first_reply_seconds": 3600, "resolution_seconds": 28800, "warn_before_seconds": 900, "pause_on_hold": true, "business_hours": {"time_zone": "Asia/Singapore", "weekly": [{"weekday": "WEEKDAY_MONDAY", "start": "09:00", "end": "18:00"}, {"weekday": "WEEKDAY_TUESDAY", "start": "09:00", "end": "18:00"}], "holidays": ["2026-12-25"]}}}' \
  localhost:50051 casework.v1.ReportService/UpsertSlaPolicy
grpcurl -plaintext -H "authorization: bearer $TOKEN" -d "{\"ticket_id\": \"$TICKET_ID\"}" \
  localhost:50051 casework.v1.ReportService/GetTicketMetrics
grpcurl -plaintext -H "authorization: bearer $TOKEN" -d '{"filter": {"sla_breached": true}, "page_size": 10}' \
  localhost:50051 casework.v1.TicketService/ListTickets
WEEK="\"start_time\": \"$(date -u -d '6 days ago' +%Y-%m-%dT00:00:00Z)\", \"end_time\": \"$(date -u -d tomorrow +%Y-%m-%dT00:00:00Z)\""
grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d "{$WEEK, \"time_zone\": \"Asia/Singapore\", \"bucket\": \"REPORT_BUCKET_DAY\", \"group_by\": \"REPORT_GROUP_BY_QUEUE\"}" \
  localhost:50051 casework.v1.ReportService/GetReport
grpcurl -plaintext -H "authorization: bearer $TOKEN" -d "{\"report\": {$WEEK, \"bucket\": \"REPORT_BUCKET_DAY\"}}" \
  localhost:50051 casework.v1.ReportService/ExportReport | jq -r .csv | base64 -d

# REST shim: the agent's own view (seed 001)
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/cs-chat-ticket/v1/info
curl -fsS -X PUT -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/v1/online
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/v1/statuses
curl -fsS -X PUT -H "Authorization: bearer $AGENT_TOKEN" -H "Content-Type: application/json" \
  -d '{"status": "online"}' localhost:50051/v1/status
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/v1/tickets

# A ticket with a legacy external id, routed to the agent; read it by that id (seed 000)
grpcurl -plaintext -H "authorization: bearer $TOKEN" \
  -d '{"external_id": "vsba-nhas", "queue": "chat-sg-en", "channel": "chat", "subject": "Wrong address", "customer": {"id": "cust-3", "name": "hugo dan"}}' \
  localhost:50051 casework.v1.TicketService/CreateTicket
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/ticket-detail/v1/tickets/vsba-nhas
curl -fsS -X PUT -H "Authorization: bearer $AGENT_TOKEN" -H "X-Agent-ID: agent@example.com" \
  localhost:50051/v1/tickets/vsba-nhas/pickedTime
curl -fsS -X PUT -H "Authorization: bearer $AGENT_TOKEN" -H "Content-Type: application/json" \
  -d '{"type": "UPDATE_CCR", "ccr": "1B.1"}' localhost:50051/v1/tickets/vsba-nhas
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" "localhost:50051/v1/tickets/vsba-nhas/history?page=1&pageSize=10"

# Reference data: departments, transfer queues, resolutions, the CCR tree and its search
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/ticket-detail/v2/escalation/departments
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/v1/transfer/queues
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/v1/resolution-statuses
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" "localhost:50051/v1/ccr?lang=en"
curl -fsS -H "Authorization: bearer $AGENT_TOKEN" "localhost:50051/v1/ccr/search?q=wrong%20address&lang=en"

# Hand it on: reassign, escalate (v1: the default department; v2: a named one), transfer, close
curl -fsS -X POST -H "Authorization: bearer $AGENT_TOKEN" -H "Content-Type: application/json" \
  -d '{"reason": "shift over", "assignee": "supervisor@example.com"}' localhost:50051/v1/tickets/vsba-nhas/reassign
curl -fsS -X POST -H "Authorization: bearer $TOKEN" -H "Content-Type: application/json" \
  -d '{"statusReason": "needs a partner", "resolutionReason": "vendor issue"}' localhost:50051/v1/tickets/vsba-nhas/escalate
curl -fsS -X POST -H "Authorization: bearer $TOKEN" -H "Content-Type: application/json" \
  -d '{"queueId": "email-sg-en"}' localhost:50051/v1/tickets/vsba-nhas/transfer
curl -fsS -X POST -H "Authorization: bearer $TOKEN" -H "Content-Type: application/json" \
  -d '{"statusReason": "refund", "resolutionReason": "order refunded", "department": "payments"}' \
  localhost:50051/ticket-detail/v2/tickets/vsba-nhas/escalate
curl -fsS -X DELETE -H "Authorization: bearer $AGENT_TOKEN" "localhost:50051/v1/rooms/$ROOM_ID"
curl -fsS -X POST -H "Authorization: bearer $TOKEN" -H "Content-Type: application/json" \
  -d '{"statusReason": "done", "resolutionStatus": "REFUNDED", "resolutionReason": "refunded"}' \
  localhost:50051/v1/tickets/vsba-nhas/close
curl -fsS -X PUT -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/v1/offline

# Errors have the blueprints' shape
curl -sS -H "Authorization: bearer $AGENT_TOKEN" localhost:50051/v1/tickets/no-such-ticket
# --- examples: end ---

# The examples did what they say.
[[ $TICKET_ID =~ ^[0-9a-f-]{36}$ ]] || { echo "CreateTicket gave no ticket id" >&2; exit 1; }
events=$(grpcurl -plaintext -H "authorization: bearer $TOKEN" -d "{\"ticket_id\": \"$TICKET_ID\"}" \
  localhost:50051 casework.v1.TicketService/ListTicketEvents | jq -r '[.events[].type] | join(" ")')
expected="TICKET_EVENT_TYPE_CREATED TICKET_EVENT_TYPE_ASSIGNED TICKET_EVENT_TYPE_CLOSED"
if [ "$events" != "$expected" ]; then
  echo "unexpected audit trail: $events (expected $expected)" >&2
  exit 1
fi
[ "$(jq -r .ticket.assignee <<<"$ROUTED")" = agent@example.com ] || {
  echo "the new ticket was not routed to the online agent" >&2
  exit 1
}
messages=$(grpcurl -plaintext -H "authorization: bearer $AGENT_TOKEN" -d "{\"room_id\": \"$ROOM_ID\"}" \
  localhost:50051 casework.v1.ConversationService/ListMessages | jq -r '[.messages[].senderType] | join(" ")')
[ "$messages" = "SENDER_TYPE_CUSTOMER SENDER_TYPE_AGENT" ] || {
  echo "unexpected conversation: $messages" >&2
  exit 1
}
closed=$(curl -fsS -H "Authorization: bearer $TOKEN" localhost:50051/v1/tickets/vsba-nhas | jq -r '.status + " " + .statusReason')
[ "$closed" = "CLOSED done" ] || {
  echo "unexpected REST ticket after the walkthrough: $closed" >&2
  exit 1
}
echo "README examples: all passed"
