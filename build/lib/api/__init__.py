"""The scoring service (FastAPI): households in, stored and reproducible decisions out.

Run it with ``targeting serve`` (docs at ``/docs``); create keys with ``targeting keys create --role
scorer|inspector|analyst``. ``api.main.create_app(settings=None, scorer=None)`` builds the app.

Endpoints
---------
``POST /v1/score`` (scorer)
    One or many households (up to ``TARGETING_API_MAX_BATCH``) -> for each: predicted welfare,
    district and kecamatan rank and desil, programme eligibility, the rule set's verdict with every
    criterion's flag, the top reasons (``lang`` id/en), and the model and rule-set versions used.
    Validation is the CLI's own (`targeting.survey.load.frame_to_survey`); ``on_error`` says whether
    a batch with bad households is refused whole (422, every problem listed) or scored without them.
    ``Idempotency-Key`` makes a retry return the stored decisions instead of writing twice.
``GET /v1/households/{household_id}/decisions`` (inspector)
    The decision history of a household: the raw id is pseudonymised (keyed HMAC) before lookup.
``GET /v1/models`` (analyst)
    The model being served, its card, and the rule set.
``GET /health``, ``GET /ready``
    The process is up; the model is loaded and the decision store answers.
"""
