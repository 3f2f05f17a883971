"""A license's status is set by the signed license procedures (suspension and its lifting,
revocation, closure): the day it took effect, a suspension's last day, the reason and the case
that set it are kept beside it; 'dissolved', never written, gives way to 'revoked' and 'closed'.
A manager's term may now also end with the license it served.

Revision ID: 9e2b7c4d1a36
Revises: 6b1d3f8e2a57
Create Date: 2026-12-05 12:10:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '9e2b7c4d1a36'
down_revision = '6b1d3f8e2a57'
branch_labels = None
depends_on = None

LICENSE_STATUSES = ("active", "suspended", "revoked", "closed")
TERM_END_REASONS = ("replaced", "retired", "resigned", "revoked", "closed")


def upgrade() -> None:
    with op.batch_alter_table('licenses', schema=None) as batch_op:
        batch_op.drop_constraint('license_status', type_='check')
        batch_op.add_column(sa.Column('status_since', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('suspended_until', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('status_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('status_case_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_licenses_status_case_id_cases'), 'cases', ['status_case_id'], ['id'])
        batch_op.create_check_constraint('license_status', f"status IN {LICENSE_STATUSES}")
    with op.batch_alter_table('manager_terms', schema=None) as batch_op:
        batch_op.drop_constraint('term_end_reason', type_='check')
        batch_op.create_check_constraint('term_end_reason', f"end_reason IS NULL OR end_reason IN {TERM_END_REASONS}")


def downgrade() -> None:
    with op.batch_alter_table('manager_terms', schema=None) as batch_op:
        batch_op.drop_constraint('term_end_reason', type_='check')
        batch_op.create_check_constraint('term_end_reason',
                                         "end_reason IS NULL OR end_reason IN ('replaced', 'retired', 'resigned')")
    with op.batch_alter_table('licenses', schema=None) as batch_op:
        batch_op.drop_constraint('license_status', type_='check')
        batch_op.drop_constraint(batch_op.f('fk_licenses_status_case_id_cases'), type_='foreignkey')
        batch_op.drop_column('status_case_id')
        batch_op.drop_column('status_reason')
        batch_op.drop_column('suspended_until')
        batch_op.drop_column('status_since')
        batch_op.create_check_constraint('license_status', "status IN ('active', 'suspended', 'dissolved')")
