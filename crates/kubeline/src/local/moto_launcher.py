"""kubeline's local AWS emulator: moto on 127.0.0.1 with Step Functions execution enabled,
two fixes to moto 5.2's change sets (stacks created through a change set get their outputs
and exports, and change sets resolve Fn::ImportValue), and one to SendTaskFailure (moto drops
the cause, which kubeline's failure records need). moto's ValidateTemplate runs cfn-lint and
fails on warnings; AWS's checks syntax only, so only cfn-lint errors fail it here (each
template text is linted once per emulator: runs re-validate the same templates). moto's stack
deletion leaves route tables with (faked) subnet associations behind, which then blocks the
VPC; deleting a VPC here drops them first, as deleting the stack's resources would. moto sends
no event when a delete marker is created in a versioned bucket; S3 sends "Object Deleted", and
so does this launcher. moto's CloudFormation has no AWS::IAM::OIDCProvider (the
service-account issuer of IAM roles for service accounts); this launcher adds it over moto's
own IAM OIDC providers. Started by `kubeline local ...`; prints
`ready` when listening and stops on SIGTERM or when stdin closes."""

import hashlib
import os
import signal
import sys
import threading

port = int(sys.argv[1])
os.environ["MOTO_PORT"] = str(port)  # Step Functions service integrations call back here

from moto.core.config import default_user_config  # noqa: E402

default_user_config["stepfunctions"] = {"execute_state_machine": True}

from moto.cloudformation import models as cfn  # noqa: E402

_create_change_set = cfn.CloudFormationBackend.create_change_set
_execute_change_set = cfn.CloudFormationBackend.execute_change_set


def create_change_set(self, *args, **kwargs):
    change_set_id, stack_id = _create_change_set(self, *args, **kwargs)
    stack = self.stacks[stack_id]
    stack.cross_stack_resources = self.exports
    stack.resource_map.cross_stack_resources = self.exports
    return change_set_id, stack_id


def execute_change_set(self, change_set_name, stack_name=None):
    _execute_change_set(self, change_set_name, stack_name)
    change_set = self.change_sets.get(change_set_name)
    if change_set is None:
        change_set = next(
            c for c in self.change_sets.values() if c.change_set_name == change_set_name
        )
    stack = self.stacks[change_set.stack_id]
    stack._parse_template()
    stack.output_map = stack._create_output_map()
    for export in stack.exports:
        self.exports[export.name] = export


_validate_template = cfn.CloudFormationBackend.validate_template
# cfn-lint's verdict on a template text: a run re-validates the same templates as the run before
# it (each takes cfn-lint a second or more), and the lock keeps concurrent validations off the
# one scratch file (file.tmp in the working directory) moto's cfn-lint call writes.
_lint_verdicts = {}
_lint_lock = threading.Lock()


def validate_template(self, template):
    key = hashlib.sha256(template.encode()).hexdigest()
    with _lint_lock:
        if key not in _lint_verdicts:
            _lint_verdicts[key] = [
                m
                for m in _validate_template(self, template)
                if str(getattr(getattr(m, "rule", None), "id", "E")).startswith("E")
            ]
        return _lint_verdicts[key]


cfn.CloudFormationBackend.create_change_set = create_change_set
cfn.CloudFormationBackend.execute_change_set = execute_change_set
cfn.CloudFormationBackend.validate_template = validate_template

from moto.ec2.models.vpcs import VPCBackend  # noqa: E402

_delete_vpc = VPCBackend.delete_vpc


def delete_vpc(self, vpc_id):
    for table in list(self.describe_route_tables(filters={"vpc-id": vpc_id})):
        if table.main_association_id is None and not self.describe_subnets(
            filters={"vpc-id": vpc_id}
        ):
            table._associations.clear()
            self.route_tables.pop(table.id, None)
    return _delete_vpc(self, vpc_id)


VPCBackend.delete_vpc = delete_vpc

from moto.s3 import models as s3_models  # noqa: E402
from moto.s3 import notifications as s3_notifications  # noqa: E402

_delete_object = s3_models.S3Backend.delete_object


def delete_object(self, bucket_name, key_name, version_id=None, bypass=False):
    bucket = self.get_bucket(bucket_name)
    marked = None
    if bucket.is_versioned and version_id is None:
        marked = bucket.keys.get(key_name)
    result = _delete_object(self, bucket_name, key_name, version_id=version_id, bypass=bypass)
    if marked is not None:
        s3_notifications.send_event(
            self.account_id,
            s3_notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
            bucket,
            marked,
        )
    return result


s3_models.S3Backend.delete_object = delete_object

from moto.core.responses import EmptyResult  # noqa: E402
from moto.stepfunctions import responses as sfn_responses  # noqa: E402


def send_task_failure(self):
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"),
        error=self._get_param("error"),
        cause=self._get_param("cause"),
    )
    return EmptyResult()


sfn_responses.StepFunctionResponse.send_task_failure = send_task_failure

from moto.core.common_models import CloudFormationModel  # noqa: E402
from moto.iam.models import iam_backends  # noqa: E402
from moto.utilities.utils import get_partition  # noqa: E402


class OidcProvider(CloudFormationModel):
    """AWS::IAM::OIDCProvider: Ref and Arn give the provider's ARN; a new Url replaces it."""

    # moto's model registry names a model's service after its module (moto.<service>...).
    __module__ = "moto.iam.kubeline"

    def __init__(self, provider):
        self.provider = provider

    @property
    def physical_resource_id(self):
        return self.provider.arn

    @staticmethod
    def cloudformation_name_type():
        return ""

    @staticmethod
    def cloudformation_type():
        return "AWS::IAM::OIDCProvider"

    @classmethod
    def has_cfn_attr(cls, attr):
        return attr == "Arn"

    def get_cfn_attribute(self, attribute_name):
        return self.provider.arn

    @staticmethod
    def _backend(account_id, region_name):
        return iam_backends[account_id][get_partition(region_name)]

    @classmethod
    def create_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = cloudformation_json["Properties"]
        provider = cls._backend(account_id, region_name).create_open_id_connect_provider(
            props["Url"],
            props.get("ThumbprintList", []),
            props.get("ClientIdList", []),
            props.get("Tags", []),
        )
        return cls(provider)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        props = cloudformation_json["Properties"]
        old = original_resource.provider
        if "https://" + old.url != props["Url"]:
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        old.client_id_list = props.get("ClientIdList", [])
        old.thumbprint_list = props.get("ThumbprintList", [])
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        cls._backend(account_id, region_name).delete_open_id_connect_provider(resource_name)

    def delete(self, account_id, region_name):
        self._backend(account_id, region_name).delete_open_id_connect_provider(self.provider.arn)


from moto.server import ThreadedMotoServer  # noqa: E402

server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
print("ready", flush=True)

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
stop.wait()
server.stop()
