"""`make package`: the template, the function zip and the layer, checked without an AWS account."""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from chalice.app import ScheduledEventConfig, SQSEventConfig

from functions.settings import SETTINGS
from infra import package as packaging
from infra.template import INSIDE_ONLY, LOCAL_ONLY, OUTSIDE_VPC, function_name, inside_only, logical_id

ROOT = Path(__file__).resolve().parents[2]


def _interpreter(version: str):
    """A python{version} to import the package with, or None."""
    candidates = [shutil.which(f"python{version}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python{version}")))
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                               text=True)
        if probe.returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="module")
def built():
    """Package for the Lambda runtime when a matching interpreter is here to prove the imports, else for ours."""
    lambda_python = "3.12"
    interpreter = _interpreter(lambda_python)
    if interpreter is None:
        lambda_python = f"{sys.version_info.major}.{sys.version_info.minor}"
        interpreter = sys.executable
    template_path = packaging.package(python=lambda_python)
    template = json.loads(template_path.read_text())
    print(f"\npackaged for python{lambda_python}; imports checked with {interpreter}")
    return {"template": template, "path": template_path, "interpreter": interpreter, "python": lambda_python}


def _functions(template):
    return {key: value for key, value in template["Resources"].items()
            if value["Type"] == "AWS::Serverless::Function"}


def test_given_the_template_when_linted_then_cfn_lint_passes(built):
    linted = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(built["path"])],
                            capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_given_the_package_and_layer_when_imported_in_a_clean_interpreter_then_app_and_every_handler_load(
        built, tmp_path):
    code = tmp_path / "code"
    layer = tmp_path / "layer"
    zipfile.ZipFile(ROOT / "build" / "chalice" / "deployment.zip").extractall(code)
    zipfile.ZipFile(ROOT / "build" / "layer.zip").extractall(layer)
    handlers = sorted({props["Properties"]["Handler"] for props in _functions(built["template"]).values()})
    script = (
        "import importlib, sys\n"
        f"sys.path[:0] = [{str(code)!r}, {str(layer / 'python')!r}]\n"
        "import app, PIL.Image, PIL.features, argon2\n"
        "assert PIL.features.check('webp') and PIL.features.check('avif'), 'codecs missing'\n"
        f"for handler in {handlers!r}:\n"
        "    module, name = handler.rsplit('.', 1)\n"
        "    assert callable(getattr(importlib.import_module(module), name)), handler\n"
        "import PIL, argon2, functions\n"
        "for mod in (PIL, argon2, functions):\n"
        f"    assert mod.__file__.startswith(({str(code)!r}, {str(layer)!r})), mod.__file__\n"
        "print('ok', len(sys.modules))\n"
    )
    # -S: no site-packages, -E: no PYTHON* variables: only the package, the layer and the stdlib.
    ran = subprocess.run([built["interpreter"], "-S", "-E", "-c", script], capture_output=True, text=True,
                         env={"PATH": os.environ["PATH"], "PIXELFLOW_STAGE": "dev"})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("ok")


def test_given_the_layer_when_inspected_then_its_wheels_match_the_runtime_the_template_names(built):
    layer_info = json.loads((ROOT / "build" / "layer" / "layer.json").read_text())
    assert layer_info["runtime"] == f"python{built['python']}"
    for resource in _functions(built["template"]).values():
        assert resource["Properties"]["Runtime"] == layer_info["runtime"]
        assert resource["Properties"]["Layers"] == [{"Ref": "NativeLayer"}]
    tag = "cp" + built["python"].replace(".", "")
    wheel_files = glob.glob(str(ROOT / "build" / "layer" / "python" / "*.dist-info" / "WHEEL"))
    wheels = [Path(p).read_text() for p in wheel_files]
    pillow = [w for w in wheels if f"Tag: {tag}-{tag}-manylinux_2_28_x86_64" in w]
    assert pillow, "Pillow's wheel for the runtime is not in the layer"
    in_zip = {name.split("/")[0] for name in zipfile.ZipFile(ROOT / "build" / "chalice" / "deployment.zip").namelist()}
    assert "PIL" not in in_zip and "argon2" not in in_zip, "native wheels belong in the layer only"
    assert "functions" in in_zip and "app.py" in in_zip


def test_given_the_function_zip_then_local_only_code_is_left_out(built):
    names = zipfile.ZipFile(ROOT / "build" / "chalice" / "deployment.zip").namelist()
    assert any(name.startswith("functions/api/") for name in names)
    # The command-line client and the embedded stack never run on Lambda (nor do their libraries).
    for local_only in ("functions/cli/", "functions/local/", "rich/", "click/", "requests_toolbelt/"):
        assert not [name for name in names if name.startswith(local_only)], local_only


def test_given_the_app_when_packaged_then_every_queue_it_consumes_is_declared_with_dlq_and_batch_failures(built):
    from app import app

    template = built["template"]
    resources = template["Resources"]
    queues = {props["Properties"]["QueueName"]: key for key, props in resources.items()
              if props["Type"] == "AWS::SQS::Queue"}
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig):
            assert source.queue in queues, f"{source.queue} is consumed but not declared"
    for resource in _functions(template).values():
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] != "SQS":
                continue
            queue_id = event["Properties"]["Queue"]["Fn::GetAtt"][0]
            assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            queue = resources[queue_id]["Properties"]
            if "RedrivePolicy" in queue:
                assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
                assert queue["VisibilityTimeout"] >= 6 * resource["Properties"]["Timeout"]
    bucket = resources["ImagesBucket"]["Properties"]
    [notification] = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Queue"] == {"Fn::GetAtt": [logical_id("image-events") + "Queue", "Arn"]}
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "originals/"}]
    assert bucket["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True


def test_given_the_functions_when_packaged_then_every_setting_they_read_is_declared_and_no_secret_is_literal(built):
    wanted = {setting.env for setting in SETTINGS} - LOCAL_ONLY
    for name, resource in _functions(built["template"]).items():
        variables = resource["Properties"]["Environment"]["Variables"]
        outside = function_name(resource["Properties"]["Handler"]) in OUTSIDE_VPC
        needed = {env for env in wanted if not (outside and inside_only(env))}
        assert needed <= set(variables), f"{name} lacks {sorted(needed - set(variables))}"
        for secret in ("JWT_SECRET", "DATABASE_PASSWORD", "WEBHOOK_SIGNING_KEY"):
            if not outside:
                assert "{{resolve:secretsmanager:" in json.dumps(variables[secret]), secret


def test_given_the_internet_facing_functions_when_packaged_then_they_run_outside_the_vpc_with_no_database(built):
    resources = built["template"]["Resources"]
    by_name = {function_name(resource["Properties"]["Handler"]): (resource_id, resource["Properties"])
               for resource_id, resource in _functions(built["template"]).items()}
    assert {"fetch_import", "send_webhook", "call_provider"} <= OUTSIDE_VPC <= set(by_name)
    for name, (resource_id, props) in by_name.items():
        role = json.dumps(resources[resource_id + "Role"]["Properties"])
        variables = props["Environment"]["Variables"]
        if name in OUTSIDE_VPC:
            assert "VpcConfig" not in props, name
            assert "AWSLambdaVPCAccessExecutionRole" not in role and "AWSLambdaBasicExecutionRole" in role, name
            # No RDS or RDS Data API action, no Secrets Manager action, no network interfaces, no reference to
            # the database or its secret, and none of its settings.
            for forbidden in ("rds:", "rds-db:", "rds-data:", "secretsmanager:", "ec2:", "DatabaseCluster"):
                assert forbidden not in role, f"{name}'s role mentions {forbidden}"
            assert not INSIDE_ONLY & set(variables), name
            assert "DatabaseCluster" not in json.dumps(variables) and "DATABASE" not in "".join(variables), name
            # It talks to the rest through S3 originals and the outcomes queue only; the live pusher instead
            # reads stored images (to sign links), manages WebSocket connections and reports gone ones.
            pusher = name == "push_live"
            for statement in _statements(resources, resource_id + "Role"):
                if "sqs:SendMessage" in statement["Action"]:
                    queue = "LiveGoneQueue" if pusher else "OutcomesQueue"
                    assert statement["Resource"] == [{"Fn::GetAtt": [queue, "Arn"]}], name
                for action in statement["Action"]:
                    allowed = ("s3:", "sqs:", "execute-api:ManageConnections") if pusher else ("s3:", "sqs:")
                    assert action.startswith(allowed), f"{name} may {action}"
                if statement["Action"][0].startswith("s3:") and "s3:ListBucket" not in statement["Action"]:
                    prefixes = ("/originals/*", "/variants/*") if pusher else ("/originals/*",)
                    assert all(item["Fn::Sub"].endswith(prefixes) for item in statement["Resource"]), name
                    if pusher:
                        assert statement["Action"] == ["s3:GetObject"], name
        else:
            assert props["VpcConfig"], name
            assert "AWSLambdaVPCAccessExecutionRole" in role, name
            assert "${DatabaseSecret}" in json.dumps(variables["DATABASE_PASSWORD"]), name
            assert "DatabaseCluster" in json.dumps(variables["DATABASE_URL"]), name


def test_given_each_function_when_packaged_then_its_role_grants_only_what_it_uses(built):
    resources = built["template"]["Resources"]
    assert "DefaultRole" not in resources
    authorizer_role = resources["AccessTokenRole"]["Properties"]
    assert "Policies" not in authorizer_role, "the authorizer touches nothing but logs"
    process = json.dumps(resources["ProcessImageRole"]["Properties"]["Policies"])
    assert "variants/*" in process and "s3:DeleteObject" not in process
    [send] = [statement for statement in resources["ProcessImageRole"]["Properties"]["Policies"][0]
              ["PolicyDocument"]["Statement"] if "sqs:SendMessage" in statement["Action"]]
    # Processing only announces images (webhooks, live updates); it never feeds another job queue.
    assert send["Resource"] == [{"Fn::GetAtt": ["WebhookDeliveriesQueue", "Arn"]},
                                {"Fn::GetAtt": ["LiveEventsQueue", "Arn"]}]
    for resource in resources.values():
        if resource["Type"] == "AWS::IAM::Role":
            assert '"*"' not in json.dumps(resource["Properties"].get("Policies", [])), "no wildcard resources"


def test_given_the_nat_and_always_on_options_when_linted_then_cfn_lint_passes_too(built):
    options = ["FunctionEgress=nat", "PublicSubnetId=subnet-0123456789abcdef0", "DatabaseMinCapacity=0.5",
               "PrivateRouteTableIds=rtb-0123456789abcdef0,rtb-0123456789abcdef1"]
    linted = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(built["path"]),
                             "--parameters", *options], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_given_the_defaults_then_the_database_pauses_when_idle_and_a_parameter_keeps_it_always_on(built):
    template = built["template"]
    parameters = template["Parameters"]
    assert parameters["DatabaseMinCapacity"]["Default"] == "0"
    assert "0.5" in parameters["DatabaseMinCapacity"]["AllowedValues"]
    pause = parameters["DatabaseAutoPauseSeconds"]
    assert (pause["Default"], pause["MinValue"], pause["MaxValue"]) == ("300", 300, 86400)  # RDS's own range
    cluster = template["Resources"]["DatabaseCluster"]["Properties"]
    assert cluster["Engine"] == "aurora-postgresql"
    # 0 ACU needs Aurora PostgreSQL 16.3 or later on the 16 line.
    assert tuple(int(part) for part in cluster["EngineVersion"].split(".")) >= (16, 3)
    scaling = cluster["ServerlessV2ScalingConfiguration"]
    assert scaling["MinCapacity"] == {"Ref": "DatabaseMinCapacity"}
    assert scaling["SecondsUntilAutoPause"] == {"Fn::If": ["DatabasePauses", {"Ref": "DatabaseAutoPauseSeconds"},
                                                           {"Ref": "AWS::NoValue"}]}
    assert template["Conditions"]["DatabasePauses"] == {"Fn::Equals": [{"Ref": "DatabaseMinCapacity"}, "0"]}
    # The functions hold a password that never rotates under them (RDS rotates its managed one weekly).
    assert "ManageMasterUserPassword" not in cluster
    assert "DatabaseSecret" in json.dumps(cluster["MasterUserPassword"])


def test_given_the_defaults_then_the_vpc_has_endpoints_and_no_nat_and_a_parameter_adds_one(built):
    template = built["template"]
    resources = template["Resources"]
    assert template["Parameters"]["FunctionEgress"]["Default"] == "endpoints"
    storage = resources["StorageEndpoint"]
    assert "Condition" not in storage and storage["Properties"]["VpcEndpointType"] == "Gateway"
    assert "${AWS::StackName}-images-${AWS::AccountId}" in json.dumps(storage["Properties"]["PolicyDocument"])
    interface = {key: value for key, value in resources.items() if value["Type"] == "AWS::EC2::VPCEndpoint"
                 and value["Properties"]["VpcEndpointType"] == "Interface"}
    # Sending to SQS is all the functions in the VPC do with AWS besides S3: secrets are resolved at deploy time.
    assert {value["Properties"]["ServiceName"]["Fn::Sub"] for value in interface.values()} == {
        "com.amazonaws.${AWS::Region}.sqs"}
    assert all(value["Condition"] == "UseEndpoints" for value in interface.values())
    nat = {key: value for key, value in resources.items()
           if value["Type"] in ("AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::Route")}
    assert nat and all(value["Condition"].startswith("UseNat") for value in nat.values())
    assert template["Conditions"]["UseNat"] == {"Fn::Equals": [{"Ref": "FunctionEgress"}, "nat"]}
    for name, resource in _functions(template).items():
        variables = json.dumps(resource["Properties"]["Environment"]["Variables"])
        assert "resolve:secretsmanager" in variables, name


def test_given_the_functions_then_the_others_wait_out_a_resume_and_the_api_answers_503_at_once(built):
    resources = built["template"]["Resources"]
    for name, resource in _functions(built["template"]).items():
        props = resource["Properties"]
        if function_name(props["Handler"]) in OUTSIDE_VPC:
            continue  # no database to wait for
        wait = float(props["Environment"]["Variables"]["DATABASE_CONNECT_WAIT_SECONDS"])
        if name in ("APIHandler", "AccessToken", "WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect"):
            assert wait < 15, name
        else:
            assert 15 <= wait <= props["Timeout"] / 2, name  # Aurora resumes in ~15 s
    # A failing authorizer (the database it asks is paused) is a 503 with Retry-After, not API Gateway's 500.
    responses = resources["RestAPI"]["Properties"]["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    for kind in ("AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"):
        assert responses[kind]["statusCode"] == 503
        assert int(responses[kind]["responseParameters"]["gatewayresponse.header.Retry-After"].strip("'")) > 0
        assert json.loads(responses[kind]["responseTemplates"]["application/json"])["error"]["code"] == "unavailable"
def test_given_live_updates_when_packaged_then_the_websocket_api_exists_and_only_the_pusher_leaves_the_vpc(built):
    resources = built["template"]["Resources"]
    assert resources["WebsocketAPI"]["Type"] == "AWS::ApiGatewayV2::Api"
    functions = _functions(built["template"])
    outside = sorted(name for name, resource in functions.items() if "VpcConfig" not in resource["Properties"])
    assert "PushLive" in outside
    for name in ("WebsocketConnect", "WebsocketMessage", "WebsocketDisconnect", "ForgetGoneConnections",
                 "ProcessImage"):
        assert "VpcConfig" in functions[name]["Properties"], name
    manage = [statement for statement in _statements(resources, "PushLiveRole")
              if statement["Action"] == ["execute-api:ManageConnections"]]
    assert manage and "@connections" in json.dumps(manage)
    for role_id, resource in resources.items():
        if role_id != "PushLiveRole" and resource["Type"] == "AWS::IAM::Role":
            assert "ManageConnections" not in json.dumps(resource["Properties"].get("Policies", [])), role_id


def _statements(resources, role_id):
    return resources[role_id]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def test_given_a_role_that_reads_objects_when_packaged_then_it_may_list_them_so_a_missing_key_is_a_404(built):
    # Without s3:ListBucket, S3 answers HEAD of a missing key with 403: "not there yet" would look like an outage.
    resources = built["template"]["Resources"]
    for role_id, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role" or "Policies" not in resource["Properties"]:
            continue
        statements = _statements(resources, role_id)
        read = [item["Fn::Sub"].rsplit("/", 1)[0].split("}/", 1)[1] for statement in statements
                if "s3:GetObject" in statement["Action"] for item in statement["Resource"]]
        listed = [prefix.rstrip("*") for statement in statements if "s3:ListBucket" in statement["Action"]
                  for prefix in statement["Condition"]["StringLike"]["s3:prefix"]]
        for prefix in read:
            assert prefix + "/" in listed, f"{role_id} reads {prefix}/ but cannot list it"


def test_given_the_scheduled_housekeeping_when_packaged_then_it_runs_on_its_rate_and_may_redrive_images(built):
    from app import app

    [schedule] = [source for source in app.event_sources if isinstance(source, ScheduledEventConfig)]
    resources = built["template"]["Resources"]
    function = resources[logical_id(schedule.name)]["Properties"]
    [event] = function["Events"].values()
    # Deployed, its rate is a parameter: every run wakes a paused database (locally it runs at the app's rate).
    assert schedule.schedule_expression.to_string() == "rate(5 minutes)"
    assert event == {"Type": "Schedule", "Properties": {"Schedule": {"Ref": "HousekeepingSchedule"}}}
    assert built["template"]["Parameters"]["HousekeepingSchedule"]["Default"] == "rate(6 hours)"
    [send] = [statement for statement in _statements(resources, logical_id(schedule.name) + "Role")
              if "sqs:SendMessage" in statement["Action"]]
    assert {"Fn::GetAtt": ["ImageEventsQueue", "Arn"]} in send["Resource"]


def _readme():
    return (ROOT / "README.md").read_text()


def test_given_docker_compose_when_parsed_then_it_names_the_documented_services_ports_and_variables():
    # Every `${NAME:-default}` read as its default: what a user gets with no variable set.
    text = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", (ROOT / "docker-compose.yml").read_text())
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert set(services) == {"postgres", "localstack", "app"}
    assert services["postgres"]["image"].startswith("postgres:")
    [pin] = re.findall(r"^localstack-core\[[^]]*\]==(\S+)", (ROOT / "requirements-localstack.txt").read_text(), re.M)
    assert services["localstack"]["image"] == f"localstack/localstack:{pin}", "host mode and compose run one line"
    assert services["app"]["build"]["args"]["PYTHON_IMAGE"].startswith("python:")
    assert "127.0.0.1:8000:8000" in services["app"]["ports"]
    assert "127.0.0.1:4566:4566" in services["localstack"]["ports"]
    # The live-updates WebSocket: the port the Dockerfile serves it on is published, and is what browsers get.
    assert "127.0.0.1:8001:8001" in services["app"]["ports"]
    assert services["app"]["environment"]["LIVE_SOCKET_URL"] == "ws://127.0.0.1:8001"
    assert '"--live-port", "8001"' in (ROOT / "Dockerfile").read_text()
    readme = _readme()
    for variable in set(re.findall(r"\$\{(PIXELFLOW_\w+_PORT):-", (ROOT / "docker-compose.yml").read_text())):
        assert f"`{variable}`" in readme, f"{variable} is a docker-compose.yml variable but not documented"
    assert "docker compose up" in readme
    for variable in services["app"]["environment"]:
        if variable.startswith("AWS_ACCESS") or variable.startswith("AWS_SECRET"):
            continue
        assert f"`{variable}`" in readme, f"{variable} is used by docker-compose.yml but not documented"
    assert (ROOT / "Dockerfile").exists()


def test_given_the_order_queues_then_a_handed_off_claim_outlives_every_receive_of_its_order():
    from functions import leases

    queues = {queue["name"]: queue for queue in json.loads((ROOT / "infra" / "resources.json").read_text())["queues"]}
    for name in ("fetch-orders", "webhook-sends", "provider-calls"):
        assert queues[name]["max_receive_count"] == leases.ORDER_MAX_RECEIVES, name


def test_given_the_delivery_cache_when_packaged_then_cloudfront_keeps_an_img_answer_delivery_cdn_seconds_at_most(
        built):
    template = built["template"]
    [default] = [setting.default for setting in SETTINGS if setting.env == "DELIVERY_CDN_SECONDS"]
    assert template["Parameters"]["DeliveryCdnSeconds"]["Default"] == default == "86400"
    policy = template["Resources"]["DeliveryCachePolicy"]["Properties"]["CachePolicyConfig"]
    # Bounded: a rotated key, a delete or a replaced original stops being served once this has passed.
    assert policy["MaxTTL"] == policy["DefaultTTL"] == {"Ref": "DeliveryCdnSeconds"}
    for name, resource in _functions(template).items():
        variables = resource["Properties"]["Environment"]["Variables"]
        if "DELIVERY_CDN_SECONDS" in variables:
            assert variables["DELIVERY_CDN_SECONDS"] == {"Ref": "DeliveryCdnSeconds"}, name
