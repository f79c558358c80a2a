"""pixelflow's Chalice app: a routing table. All code lives in functions/."""

from chalice import Chalice

from functions.api import auth, guard, health

app = Chalice(app_name="pixelflow")

app.register_blueprint(guard.api)
app.register_blueprint(health.api)
app.register_blueprint(auth.api)
