"""pixelflow's Chalice app: a routing table. All code lives in functions/."""

from chalice import Chalice, Rate

from functions import pipeline
from functions.api import (
    auth,
    batches,
    delivery,
    docs,
    generations,
    guard,
    health,
    images,
    imports,
    live,
    web,
    webhooks,
)
from functions.live import sockets
from functions.settings import (
    FETCH_ORDERS_QUEUE,
    GENERATION_JOBS_QUEUE,
    IMAGE_EVENTS_QUEUE,
    IMPORT_JOBS_QUEUE,
    LIVE_EVENTS_QUEUE,
    LIVE_GONE_QUEUE,
    OUTCOMES_QUEUE,
    PROVIDER_CALLS_QUEUE,
    WEBHOOK_DELIVERIES_QUEUE,
    WEBHOOK_SENDS_QUEUE,
)

app = Chalice(app_name="pixelflow")
app.experimental_feature_flags.update(["WEBSOCKETS"])

app.register_blueprint(guard.api)
app.register_blueprint(health.api)
app.register_blueprint(auth.api)
app.register_blueprint(images.api)
app.register_blueprint(generations.api)
app.register_blueprint(imports.api)
app.register_blueprint(batches.api)
app.register_blueprint(webhooks.api)
app.register_blueprint(web.api)
app.register_blueprint(docs.api)
app.register_blueprint(live.api)
app.register_blueprint(delivery.api)
# Renditions are answered as bytes (base64 to API Gateway); JPEG and PNG are among Chalice's defaults already.
app.api.binary_types.extend(["image/webp", "image/avif"])

# Batch size 1 everywhere: a slow or bad message never holds back or re-runs its neighbours.


@app.on_sqs_message(queue=IMAGE_EVENTS_QUEUE, batch_size=1)
def process_image(event):
    return pipeline.each_record(event, pipeline.process_image_event)


@app.on_sqs_message(queue=IMAGE_EVENTS_QUEUE + "-dlq", batch_size=1)
def image_dead_letter(event):
    return pipeline.each_record(event, pipeline.give_up_image_event)


@app.on_sqs_message(queue=GENERATION_JOBS_QUEUE, batch_size=1)
def run_generation_step(event):
    return pipeline.each_record(event, pipeline.generation_step)


@app.on_sqs_message(queue=GENERATION_JOBS_QUEUE + "-dlq", batch_size=1)
def generation_dead_letter(event):
    return pipeline.each_record(event, pipeline.give_up_generation_step)


@app.on_sqs_message(queue=IMPORT_JOBS_QUEUE, batch_size=1)
def import_url(event):
    return pipeline.each_record(event, pipeline.import_url)


@app.on_sqs_message(queue=IMPORT_JOBS_QUEUE + "-dlq", batch_size=1)
def import_dead_letter(event):
    return pipeline.each_record(event, pipeline.give_up_import)


@app.on_sqs_message(queue=WEBHOOK_DELIVERIES_QUEUE, batch_size=1)
def deliver_webhook(event):
    return pipeline.each_record(event, pipeline.deliver_webhook)


@app.on_sqs_message(queue=WEBHOOK_DELIVERIES_QUEUE + "-dlq", batch_size=1)
def webhook_dead_letter(event):
    return pipeline.each_record(event, pipeline.give_up_webhook)


# Live updates (functions/live/): the WebSocket routes and the database side run in the VPC; push_live
# posts to connections through the management API, so it runs outside the VPC, without the database.


@app.on_ws_connect()
def live_connect(event):
    return sockets.connect(event)


@app.on_ws_message()
def live_message(event):
    return sockets.message(event)


@app.on_ws_disconnect()
def live_disconnect(event):
    return sockets.disconnect(event)


@app.on_sqs_message(queue=LIVE_EVENTS_QUEUE, batch_size=1)
def push_live(event):
    return pipeline.each_record(event, pipeline.push_live)


@app.on_sqs_message(queue=LIVE_GONE_QUEUE, batch_size=1)
def forget_gone_connections(event):
    return pipeline.each_record(event, pipeline.forget_gone_connections)


# Outside the VPC, with no database (infra/template.py OUTSIDE_VPC): the work that talks to addresses users chose.
@app.on_sqs_message(queue=FETCH_ORDERS_QUEUE, batch_size=1)
def fetch_import(event):
    return pipeline.each_record(event, pipeline.fetch_import)


@app.on_sqs_message(queue=WEBHOOK_SENDS_QUEUE, batch_size=1)
def send_webhook(event):
    return pipeline.each_record(event, pipeline.send_webhook)


@app.on_sqs_message(queue=PROVIDER_CALLS_QUEUE, batch_size=1)
def call_provider(event):
    return pipeline.each_record(event, pipeline.call_provider)


# Back in the VPC: what they report is recorded here; their DLQs settle the records they could not finish.
@app.on_sqs_message(queue=OUTCOMES_QUEUE, batch_size=1)
def record_outcome(event):
    return pipeline.each_record(event, pipeline.record_outcome)


@app.on_sqs_message(queue=OUTCOMES_QUEUE + "-dlq", batch_size=1)
def outcome_dead_letter(event):
    return pipeline.each_record(event, pipeline.give_up_outcome)


@app.on_sqs_message(queue=FETCH_ORDERS_QUEUE + "-dlq", batch_size=1)
def fetch_dead_letter(event):
    return pipeline.each_record(event, pipeline.give_up_fetch)


@app.on_sqs_message(queue=WEBHOOK_SENDS_QUEUE + "-dlq", batch_size=1)
def send_dead_letter(event):
    return pipeline.each_record(event, pipeline.give_up_send)


@app.on_sqs_message(queue=PROVIDER_CALLS_QUEUE + "-dlq", batch_size=1)
def provider_dead_letter(event):
    return pipeline.each_record(event, pipeline.give_up_provider_call)


# Settles uploads that never arrived and forgets stale sign-in rows; the local runner keeps the same rate.
@app.schedule(Rate(5, unit=Rate.MINUTES), name="housekeeping")
def housekeeping(event):
    return pipeline.sweep()


# Invoked once after each AWS deploy (see README); make deploy-local applies the same files locally.
@app.lambda_function(name="migrate")
def migrate(event, context):
    return pipeline.migrate()
