"""A case's status is one its procedure's manifest declares: the fixed list of statuses goes.

Procedures are data (bpmn/<key>.procedure.json): a redrawn procedure may bring a status of its
own, checked when it is deployed, so the database no longer holds the list.

Revision ID: b7e3a9c1d5f2
Revises: 8d4f1b6a2c90
Create Date: 2026-12-04 23:10:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7e3a9c1d5f2'
down_revision = '8d4f1b6a2c90'
branch_labels = None
depends_on = None

STATUSES = ("draft", "inquiries", "county_review", "province_review", "correction", "acknowledgement",
            "awaiting_successor", "interim_needed", "licensed", "appointed", "closed", "rejected")


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint('case_status', type_='check')


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_check_constraint('case_status', f"status IN {STATUSES}")
