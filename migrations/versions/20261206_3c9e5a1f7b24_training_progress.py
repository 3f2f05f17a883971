"""A training case's progress on the modules of its package: the quiz attempts its taker makes before
the completion is signed.

Revision ID: 3c9e5a1f7b24
Revises: 8b5d3f0c2e69
Create Date: 2026-12-06 19:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3c9e5a1f7b24'
down_revision = '8b5d3f0c2e69'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('training_progress',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('module_key', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('correct', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('passed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_training_progress_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_progress')),
    sa.UniqueConstraint('case_id', 'module_key', name=op.f('uq_training_progress_case_id_module_key'))
    )
    with op.batch_alter_table('training_progress', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_progress_case_id'), ['case_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('training_progress', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_progress_case_id'))

    op.drop_table('training_progress')
