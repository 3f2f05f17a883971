"""Each record's timing keeps the span since the case's previous record in working days of the case's
county office too, so that monitoring reports step times in working days beside calendar time.

Revision ID: 8b5d3f0c2e69
Revises: 7a4c2e9b1d58
Create Date: 2026-12-06 18:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '8b5d3f0c2e69'
down_revision = '7a4c2e9b1d58'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('record_timings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('working_days', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('record_timings', schema=None) as batch_op:
        batch_op.drop_column('working_days')
