"""Every case has a tracking code (کد رهگیری) its applicant follows it with without signing in;
cases made before get one now.

Revision ID: 6b1d3f8e2a57
Revises: 4a7c2e9b1f03
Create Date: 2026-12-05 08:30:00.000000

"""
import secrets

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '6b1d3f8e2a57'
down_revision = '4a7c2e9b1f03'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tracking_code', sa.String(length=10), nullable=True))
    connection = op.get_bind()
    cases = sa.table('cases', sa.column('id', sa.Integer), sa.column('tracking_code', sa.String))
    used: set[str] = set()
    for (case_id,) in connection.execute(sa.select(cases.c.id)).all():
        code = f"{secrets.randbelow(10 ** 10):010d}"
        while code in used:
            code = f"{secrets.randbelow(10 ** 10):010d}"
        used.add(code)
        connection.execute(cases.update().where(cases.c.id == case_id).values(tracking_code=code))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_cases_tracking_code'), ['tracking_code'])


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_cases_tracking_code'), type_='unique')
        batch_op.drop_column('tracking_code')
